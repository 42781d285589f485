// Issue 16's example component: the world `greeter` of wit/greeter.wit, built with
// componentize-js's default features (so with wasi:http imports it never calls).

/** A greeting for `name`. */
export function greet(name) {
  return `Hello, ${name}!`;
}

/** The number of Unicode scalar values in `text`. */
export function countChars(text) {
  return [...text].length;
}
