// Workgroup reductions for the kernels that reduce rows (RMSNorm, the cross-entropy's softmax,
// the gradient norm): shaders/reduce.wgsl (workgroup memory and barriers) or, where the runtime
// uses subgroups, shaders/reduce-subgroups.wgsl, whose last tree steps run inside subgroups with
// fewer barriers and give the same bits. A shader calls workgroup_sum / workgroup_max_sum and marks
// its entry points' parameter lists with `/*@subgroup_id*/`; reducingProgram builds the variant.
import plainCode from '../../shaders/reduce.wgsl?raw';
import subgroupCode from '../../shaders/reduce-subgroups.wgsl?raw';
import type { GpuRuntime, Program } from '../gpu/runtime.ts';

const MARKER = '/*@subgroup_id*/';
const composed = new Map<string, string>();

function compose(code: string, subgroups: boolean): string {
  const key = `${subgroups ? 1 : 0}${code}`;
  let full = composed.get(key);
  if (!full) {
    if (!code.includes(MARKER)) throw new Error(`reducingProgram: the shader has no ${MARKER} marker in an entry point's parameters`);
    full = subgroups
      ? `enable subgroups;\n${code.replaceAll(MARKER, '@builtin(subgroup_invocation_id) subgroup_id: u32,')}\n${subgroupCode}`
      : `${code.replaceAll(MARKER, '')}\n${plainCode}`;
    composed.set(key, full);
  }
  return full;
}

/**
 * `program` (whose code calls the reductions and whose constants set WG) in the variant this
 * runtime uses, or the one asked for: with subgroups its name gains `+subgroups` (the pipeline
 * cache keys on names) and its constants SG_LANES = min(smallest subgroup, WG).
 */
export function reducingProgram(rt: GpuRuntime, program: Program, subgroups = rt.subgroups): Program {
  if (!subgroups) return { ...program, code: compose(program.code, false) };
  const wg = program.constants?.WG;
  if (wg === undefined) throw new Error(`reducingProgram: ${program.name} must set its WG constant`);
  return {
    ...program,
    name: `${program.name}+subgroups`,
    code: compose(program.code, true),
    constants: { ...program.constants, SG_LANES: Math.min(rt.gpu.subgroupMinSize, wg) },
  };
}
