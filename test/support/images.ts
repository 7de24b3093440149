import { mkdtemp, mkdir, copyFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** A tiny image for integration tests, made from Debian's static busybox (no registry here). */
/** The tag names the applet list: a new list is a new tag, so a host that has the old image builds the new one. */
export const BUSYBOX_IMAGE = "kind-cluster-test/busybox:2";

export async function ensureBusyboxImage(): Promise<string> {
  const present = await execa("docker", ["image", "inspect", BUSYBOX_IMAGE], { reject: false });
  if (present.exitCode === 0) return BUSYBOX_IMAGE;
  const root = await mkdtemp(join(tmpdir(), "busybox-root-"));
  try {
    await mkdir(join(root, "bin"));
    await copyFile("/bin/busybox", join(root, "bin/busybox"));
    for (const tool of ["sh", "sleep", "httpd", "nc", "cat", "true", "mkdir", "tee", "touch", "ls", "rm", "echo"])
      await symlink("busybox", join(root, "bin", tool));
    await execa("tar", ["-C", root, "-c", "."]).pipe("docker", ["import", "--change", "ENV PATH=/bin", "-", BUSYBOX_IMAGE]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return BUSYBOX_IMAGE;
}

/** Runs `docker` and returns trimmed stdout; throws with stderr on failure. */
export async function docker(...args: string[]): Promise<string> {
  const result = await execa("docker", args);
  return result.stdout.trim();
}
