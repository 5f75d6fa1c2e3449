/** The --target of the backup commands that work on one target. */
export const targetArg = {
  target: {
    type: "string",
    valueHint: "name",
    description: "Which target (needed when there are several)",
  },
} as const;
