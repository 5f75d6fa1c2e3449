// Icons are imported as text (`with { type: "text" }`) so they ship inside the binary.
declare module "*.svg" {
  const text: string;
  export default text;
}
