import { execa } from "execa";

/** Test-side git: no user or system configuration, fixed identities, never a prompt. */
export const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.invalid",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.invalid",
  GIT_TERMINAL_PROMPT: "0",
};

/** Runs git in `cwd`, whatever its exit code. */
export function gitResult(cwd: string, args: readonly string[], env: Record<string, string> = {}) {
  return execa("git", args, { cwd, env: { ...GIT_ENV, ...env }, reject: false });
}

/** Runs git in `cwd`; throws with its stderr on failure, returns stdout. */
export async function git(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const result = await gitResult(cwd, args, env);
  if (result.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}
