"""Cross-checks WebLoCo against Hugging Face transformers on a machine that has PyTorch:
`webloco grads` versus LlamaForCausalLM's autograd on random configs (tied/untied, grouped KV
heads), and a checkpoint written by `webloco train` loaded with from_pretrained.
Usage (repo root, after bench/device/pack.sh): python3 bench/device/hf-check.py [CHECKPOINT_DIR]
Prints one JSON line per check."""
import json, os, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM


def webloco(*args):
    return subprocess.run(["bash", "bench/device/run.sh", *args], check=True, capture_output=True, text=True).stdout


def check_grads(name, tied, kv_heads, seed):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=kv_heads, max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=10000.0,
               tie_word_embeddings=tied)
    model = LlamaForCausalLM(LlamaConfig(**cfg, attn_implementation="eager")).float()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    tokens = torch.randint(0, cfg["vocab_size"], (3, 17), dtype=torch.int32)
    d = tempfile.mkdtemp()
    json.dump(cfg, open(f"{d}/config.json", "w"))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")}
    save_file(state, f"{d}/w.safetensors")
    save_file({"tokens": tokens}, f"{d}/t.safetensors")
    out = webloco("grads", "--config", f"{d}/config.json", "--weights", f"{d}/w.safetensors",
                  "--tokens", f"{d}/t.safetensors", "--out", f"{d}/g.safetensors")
    ours_loss = json.loads(out.strip().splitlines()[-1])["loss"]
    ids = tokens.long()
    logits = model(input_ids=ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), ids[:, 1:].reshape(-1))
    loss.backward()
    ours = load_file(f"{d}/g.safetensors")
    worst = 0.0
    for k, p in model.named_parameters():
        if tied and k == "lm_head.weight":
            continue
        ref = p.grad
        worst = max(worst, ((ours[k] - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item())
    print(json.dumps({"check": "grads-vs-transformers", "case": name, "lossOurs": ours_loss, "lossTransformers": loss.item(),
                      "maxRelGradError": worst}), flush=True)


check_grads("untied, kv=2", False, 2, 1)
check_grads("tied, kv=4", True, 4, 2)
check_grads("tied, kv=1", True, 1, 3)

if len(sys.argv) > 1:
    ckpt = sys.argv[1]
    model = LlamaForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32)
    text = b"The jury said it did find that the election was conducted fairly."
    ids = torch.tensor([list(text)])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    print(json.dumps({"check": "from_pretrained", "checkpoint": ckpt, "class": type(model).__name__,
                      "parameters": sum(p.numel() for p in model.parameters()), "lossOnSentence": loss}), flush=True)
