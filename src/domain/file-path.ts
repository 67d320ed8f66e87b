/**
 * File paths inside a version (docs/reference.md "Names"): 1..1024 bytes of UTF-8,
 * `/`-separated, no empty, `.` or `..` segment, no leading or trailing `/`, no `\`, no control
 * characters.
 */
import { z } from "zod";
import { filePathProblem } from "./file-path-rule";

export { filePathProblem };

export const FilePath = z.string().superRefine((path, ctx) => {
  const problem = filePathProblem(path);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
