// Dispatch shapes shared by the launchers.
import type { GpuRuntime } from '../gpu/runtime.ts';

/**
 * Workgroups for `n` threads in groups of `wg`, folded into a 2-D grid when one dimension would
 * exceed the device limit. Shaders index `gid.x + gid.y * num_workgroups.x * wg`.
 */
export function grid1d(rt: GpuRuntime, n: number, wg: number): [number, number] {
  const groups = Math.ceil(n / wg);
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Rows [row, row + rows) × columns [col, col + cols) of a grid of workgroups. */
export interface GridBlock {
  row: number;
  col: number;
  rows: number;
  cols: number;
}

/**
 * Cuts a rows × cols grid into blocks of at most `maxCells` cells and `maxPerDimension` along
 * either side: whole rows while they fit, else parts of one row. A launcher runs a dispatch too
 * long for one submission (GpuRuntime.slicesFor) as one dispatch per block, its workgroup ids
 * offset by the block's corner; every workgroup computes what it would have in one dispatch.
 */
export function gridBlocks(rows: number, cols: number, maxCells = Infinity, maxPerDimension = Infinity): GridBlock[] {
  if (!(maxCells >= 1)) throw new Error(`gridBlocks: maxCells must be at least 1, got ${maxCells}`);
  const colBlock = Math.min(maxPerDimension, cols, Math.floor(maxCells));
  const rowBlock = Math.max(1, Math.min(maxPerDimension, Math.floor(maxCells / colBlock)));
  const blocks: GridBlock[] = [];
  for (let row = 0; row < rows; row += rowBlock) {
    for (let col = 0; col < cols; col += colBlock) {
      blocks.push({ row, col, rows: Math.min(rowBlock, rows - row), cols: Math.min(colBlock, cols - col) });
    }
  }
  return blocks;
}
