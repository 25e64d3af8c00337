// ABI placeholder; the inflate kernel replaces this.
export function abiVersion(): i32 {
  return 0;
}
