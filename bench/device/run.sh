#!/usr/bin/env bash
# On the GPU machine: unpack Node and the Vulkan loader carried in .device/, then run webloco.
#   bash bench/device/run.sh gpu-info
#   bash bench/device/run.sh bench kernels --node   (a benchmark: bench/main.ts)
set -euo pipefail
d=.device
[ -x /tmp/node ] || xz -dc "$d/node.xz" > /tmp/node && chmod +x /tmp/node
# The Vulkan loader and the GL dispatch libraries NVIDIA's ICD needs (once per machine).
if [ ! -e /tmp/.webloco-debs ]; then
  for f in "$d"/deb/*.deb; do dpkg -x "$f" /; done
  ldconfig
  touch /tmp/.webloco-debs
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_ICD_FILENAMES="$icd"; break; fi
done
cd "$d" && exec /tmp/node webloco.mjs "$@"
