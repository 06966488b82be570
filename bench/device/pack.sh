#!/usr/bin/env bash
# Packs what the GPU machine of the `device` tool needs to run `webloco` there (it has no Node and
# no registry): one bundled webloco.mjs, a compressed Node 22, Dawn's dawn.node, and Debian's
# Vulkan loader. Output: .device/ (ignored by git, carried by the tool). Run from the repo root.
set -euo pipefail
out=.device
bundle_only=${1:-}
[ "$bundle_only" = --bundle-only ] || rm -rf "$out"
mkdir -p "$out/node_modules/webgpu/dist/linux-x64"
cat > "$out/build.mjs" <<'JS'
import { build } from 'esbuild';
import { wgslRaw, browserOnly } from '../bench/device/esbuild-wgsl.mjs';
await build({
  entryPoints: ['bench/device/entry.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  outfile: '.device/webloco.mjs',
  external: ['webgpu'],
  plugins: [wgslRaw, browserOnly],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
JS
node "$out/build.mjs"
rm "$out/build.mjs"
[ "$bundle_only" = --bundle-only ] && exit 0
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$out/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$out/node_modules/webgpu/dist/linux-x64/"
xz -T2 -3 -c node_modules/node/bin/node > "$out/node.xz"
mkdir -p "$out/deb" /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
[ -n "$(ls /tmp/amd64/*Packages* 2>/dev/null)" ] || apt-get $o update -qq
# The NVIDIA driver's Vulkan ICD needs the GL vendor-neutral dispatch libraries too.
(cd "$out/deb" && apt-get $o download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 >/dev/null)
du -sh "$out"/*
