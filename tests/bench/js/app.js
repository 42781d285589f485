// The benchmark's JavaScript component (built with componentize-js by
// tests/bench/src/js_input.rs): the exports of world `plugin` in wit/plugin.wit.

/** A greeting for `name`. */
export function greet(name) {
  return `hello, ${name}!`;
}

/** The sum of `xs` (a BigInt: the WIT result is a u64). */
export function sum(xs) {
  let s = 0n;
  for (const x of xs) s += BigInt(x);
  return s;
}
