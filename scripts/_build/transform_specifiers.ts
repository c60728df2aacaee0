/**
 * A TypeScript emit transformer that rewrites module specifiers to their npm
 * form in both the JavaScript and the declaration output.
 *
 * `rewriteRelativeImportExtensions` would cover `./x.ts` in JavaScript only;
 * declarations and import-map names need the same treatment, so one
 * transformer does all of it with the mapping from `specifiers.ts`.
 *
 * @module
 */

import ts from "typescript";

/** Rewrites one specifier; called for every static, dynamic and type import. */
export type SpecifierRewriter = (specifier: string) => string;

/**
 * Creates a transformer usable as both a `before` and an `afterDeclarations`
 * transformer.
 *
 * @param rewrite Maps a specifier as written to the one to emit.
 * @returns The transformer factory.
 */
export function createSpecifierTransformer(
  rewrite: SpecifierRewriter,
): ts.TransformerFactory<ts.SourceFile | ts.Bundle> {
  return (context) => {
    const { factory } = context;

    function literal(node: ts.Expression): ts.StringLiteral | undefined {
      if (!ts.isStringLiteral(node)) return undefined;
      const rewritten = rewrite(node.text);
      return rewritten === node.text ? undefined : factory.createStringLiteral(rewritten);
    }

    function visit(node: ts.Node): ts.Node {
      if (ts.isImportDeclaration(node)) {
        const specifier = literal(node.moduleSpecifier);
        if (specifier !== undefined) {
          return factory.updateImportDeclaration(
            node,
            node.modifiers,
            node.importClause,
            specifier,
            node.attributes,
          );
        }
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
        const specifier = literal(node.moduleSpecifier);
        if (specifier !== undefined) {
          return factory.updateExportDeclaration(
            node,
            node.modifiers,
            node.isTypeOnly,
            node.exportClause,
            specifier,
            node.attributes,
          );
        }
      } else if (
        ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments.length > 0
      ) {
        const specifier = literal(node.arguments[0]);
        if (specifier !== undefined) {
          return factory.updateCallExpression(node, node.expression, node.typeArguments, [
            specifier,
            ...node.arguments.slice(1),
          ]);
        }
      } else if (
        // `import("./x.ts").T` appears in declarations the compiler writes for inferred types.
        ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)
      ) {
        const specifier = literal(node.argument.literal as ts.Expression);
        if (specifier !== undefined) {
          return factory.updateImportTypeNode(
            node,
            factory.updateLiteralTypeNode(node.argument, specifier),
            node.attributes,
            node.qualifier,
            node.typeArguments,
            node.isTypeOf,
          );
        }
      }
      return ts.visitEachChild(node, visit, context);
    }

    return (root) => {
      if (ts.isBundle(root)) return root;
      return ts.visitEachChild(root, visit, context);
    };
  };
}
