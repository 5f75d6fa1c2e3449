declare const brand: unique symbol;

/** A string or number that only a parse function can make, so raw values cannot pose as it. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };
