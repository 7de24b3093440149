import { readFileSync, readdirSync } from "node:fs";
import { validateWorkflow } from "@action-validator/core";
import { describe, expect, it } from "vitest";

/** Our GitHub workflows and the users' CI example, checked against the workflow schema. */
const files = [...readdirSync(".github/workflows").map((f) => `.github/workflows/${f}`), "examples/ci/cluster-smoke.yml"];

describe("GitHub workflows", () => {
  it.each(files)("%s is a valid workflow", (file) => {
    const state = validateWorkflow(readFileSync(file, "utf8"));
    expect(state.errors).toEqual([]);
  });

  it("the validator does reject a broken workflow", () => {
    expect(validateWorkflow("on: push\njobs:\n  x:\n    steps: 3\n").errors.length).toBeGreaterThan(0);
  });
});
