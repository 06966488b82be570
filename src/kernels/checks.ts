// Argument checks every launcher runs before dispatching: a wrong size would otherwise read or
// write outside a tensor without any error from WebGPU.
import { refBytes, type BufferRef } from '../gpu/runtime.ts';

/** A count or dimension: a positive integer that fits the shaders' u32 uniforms. */
export function requireCount(op: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value >= 2 ** 32)
    throw new Error(`${op}: ${name} must be a positive integer below 2^32, got ${value}`);
}

/** `ref` holds at least `count` 4-byte elements (f32 or u32). */
export function requireFloats(op: string, name: string, ref: BufferRef, count: number): void {
  if (refBytes(ref) < count * 4) throw new Error(`${op}: ${name} holds ${Math.floor(refBytes(ref) / 4)} floats, needs ${count}`);
}

/** `ref` holds at least `bytes` bytes; `what` names the shape that needs them. */
export function requireBytes(op: string, name: string, ref: BufferRef, bytes: number, what: string): void {
  if (refBytes(ref) < bytes) {
    throw new Error(`${op}: ${name} holds ${refBytes(ref)} bytes but ${what} needs ${bytes}; allocate it with the model's shapes.`);
  }
}
