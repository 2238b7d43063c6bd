import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "bench/.work/**", ".sandbox/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "no-console": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-properties": ["error", { object: "process", property: "exit", message: "Only bin/ may exit: return an exit code from main()." }],
    },
  },
  { files: ["bin/**"], rules: { "no-restricted-properties": "off" } },
  // The io module owns the terminal; benches and scripts are standalone programs.
  { files: ["src/lib/io.ts", "bench/**", "scripts/**"], rules: { "no-console": "off", "no-restricted-properties": "off" } },
  { files: ["test/**"], rules: { "no-restricted-properties": "off" } },
);
