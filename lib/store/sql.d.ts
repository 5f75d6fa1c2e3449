// Migrations are imported as text (`with { type: "text" }`) so they ship inside the binary.
declare module "*.sql" {
  const text: string;
  export default text;
}
