"""A nanoGPT checkpoint (out_dir/ckpt.pt) as a folder obt loads: model.safetensors, config.json
(nanoGPT's model_args) and chars.json (meta.pkl's itos). The safetensors file is written by hand
(an 8-byte header length, a JSON header, the raw little-endian f32 data), so no package beyond
torch is needed.

usage: python3 export.py CKPT_PT META_PKL OUT_DIR
"""
import json
import os
import pickle
import struct
import sys

import torch


def save_safetensors(tensors, path):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(ckpt_path, meta_path, out):
    ck = torch.load(ckpt_path, map_location="cpu")
    sd = {k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k: v for k, v in ck["model"].items()}
    sd = {k: v for k, v in sd.items() if not k.endswith(".attn.bias") and k != "lm_head.weight"}
    os.makedirs(out, exist_ok=True)
    save_safetensors(sd, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(ck["model_args"], f)
    with open(meta_path, "rb") as f:
        itos = pickle.load(f)["itos"]
    with open(os.path.join(out, "chars.json"), "w") as f:
        json.dump([itos[i] for i in range(len(itos))], f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
