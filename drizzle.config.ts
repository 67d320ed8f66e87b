import { defineConfig } from "drizzle-kit";

// drizzle-kit 0.31.x writes flat migrations/NNNN_name.sql files, the layout that both
// `wrangler d1 migrations apply` and the vitest plugin's readD1Migrations read.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
