"""nanoGPT's data/shakespeare_char/prepare.py without the download: a text's characters as ids
(train.bin, val.bin: the first 90 % and the last 10 %, uint16) and meta.pkl, written into OUT_DIR.

usage: python3 prepare.py INPUT_TXT OUT_DIR
"""
import os
import pickle
import sys

import numpy as np

src, out = sys.argv[1], sys.argv[2]
with open(src, "r") as f:
    data = f.read()
chars = sorted(list(set(data)))
stoi = {ch: i for i, ch in enumerate(chars)}
itos = {i: ch for i, ch in enumerate(chars)}
n = len(data)
os.makedirs(out, exist_ok=True)
np.array([stoi[c] for c in data[: int(n * 0.9)]], dtype=np.uint16).tofile(os.path.join(out, "train.bin"))
np.array([stoi[c] for c in data[int(n * 0.9):]], dtype=np.uint16).tofile(os.path.join(out, "val.bin"))
with open(os.path.join(out, "meta.pkl"), "wb") as f:
    pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)
