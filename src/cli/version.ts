/** The CLI's version, replaced at bundle time with package.json's (see scripts/build-cli.mjs). */
declare const __MREG_VERSION__: string | undefined;
export const VERSION: string = typeof __MREG_VERSION__ === "string" ? __MREG_VERSION__ : "dev";
