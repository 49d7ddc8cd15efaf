// Effect's own lint set-up: typescript-eslint for correctness, dprint (through
// @effect/eslint-plugin) for formatting in the Effect style.
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "build/**", "scratchpad/**", "test/contract/**"] },
  ...tseslint.configs.recommended,
  ...effect.configs.dprint,
  {
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      // Off: `any` appears where variance needs it (`Task<any, any, any, any>` as a constraint,
      // `Schema.Schema<any, any, never>` for any Schema, `RunCell<any, any>` for a run of any task).
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off"
    }
  },
  {
    // A function a reader holds in one screen or two: none in src/ over 150 lines.
    files: ["src/**/*.ts"],
    rules: {
      "max-lines-per-function": ["error", { max: 150 }],
      // The barrel loads every module of Effect: ~300 ms more at a task worker's start on this machine.
      "no-restricted-imports": ["error", {
        paths: [{ name: "effect", message: "Import Effect's modules by path (effect/Effect, effect/Schema)." }]
      }]
    }
  }
)
