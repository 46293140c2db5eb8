"""Corpus preparation: public-domain text shipped by Debian, split into documents.

Documents are Bible chapters (package bible-kjv) and Jargon File entries and chapters (package
jargon-text). A seeded 2% of documents is held out for validation. Each split is written as a
uint16 token stream (bytes 0..255, documents separated by <|endoftext|> = 256).
"""
import gzip
import json
import random
import re
import subprocess
from pathlib import Path

import numpy as np

from tokenizer_files import EOT_ID

JARGON = Path("/usr/share/doc/jargon-text/jargon.txt.gz")
BOX_DRAWING = re.compile("[\u2500-\u257f]")
BIBLE_CHAPTER = re.compile(r"^([1-3]?\s?[A-Z][A-Za-z ]+) (\d+)$")
JARGON_BREAK = re.compile(r"^(   :[^:]+:|Chapter \d+\.|Appendix [A-Z]\.)")


def paragraphs(lines):
    """Joins hard-wrapped lines into paragraphs; tables (box drawing) are dropped."""
    out, cur = [], []
    for line in lines + [""]:
        text = line.strip()
        if text:
            cur.append(text)
            continue
        if cur:
            para = " ".join(cur)
            if not BOX_DRAWING.search(para):
                out.append(para)
            cur = []
    return out


def bible_documents():
    text = subprocess.run(
        ["bible", "gen1:1-rev22:21"], check=True, capture_output=True, text=True
    ).stdout
    docs, title, body = [], None, []

    def flush():
        if title and body:
            verses = re.split(r"\n\s*(?=\d+ )", "\n".join(body).strip())
            clean = [" ".join(v.split()) for v in verses if v.strip()]
            docs.append(title + "\n\n" + "\n".join(clean) + "\n")

    for line in text.splitlines():
        m = BIBLE_CHAPTER.match(line)
        if m:
            flush()
            title, body = line.strip(), []
        elif title is not None:
            body.append(line)
    flush()
    return docs


def jargon_documents():
    # The file uses no-break spaces in headings and after sentences; plain spaces are what
    # users type.
    lines = gzip.open(JARGON, "rt", encoding="utf-8").read().replace("\u00a0", " ").splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("Chapter 1."))
    docs, cur = [], []
    for line in lines[start:] + ["Chapter 999."]:
        if JARGON_BREAK.match(line) and cur:
            paras = paragraphs(cur)
            doc = "\n".join(paras)
            # The glossary index is a list of bare names: short lines, no prose.
            if len(doc) >= 120 and len(doc) / max(len(paras), 1) >= 30:
                docs.append(doc + "\n")
            cur = []
        cur.append(line)
    return docs


def encode(docs):
    ids = []
    for doc in docs:
        ids.extend(doc.encode("utf-8"))
        ids.append(EOT_ID)
    return np.array(ids, dtype=np.uint16)


def prepare(out_dir: Path, seed: int, holdout: float = 0.02):
    """Writes train.bin, val.bin and corpus.json (document and byte counts) to out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = [("bible-kjv", d) for d in bible_documents()] + [
        ("jargon-text", d) for d in jargon_documents()
    ]
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(docs) * holdout))
    val_idx, train_idx = set(order[:n_val]), order[n_val:]
    train = encode([docs[i][1] for i in train_idx])
    val = encode([docs[i][1] for i in sorted(val_idx)])
    train.tofile(out_dir / "train.bin")
    val.tofile(out_dir / "val.bin")
    stats = {
        "documents": len(docs),
        "documents_by_source": {
            s: sum(1 for src, _ in docs if src == s) for s in ("bible-kjv", "jargon-text")
        },
        "validation_documents": n_val,
        "train_tokens": int(train.size),
        "validation_tokens": int(val.size),
        "holdout_fraction": holdout,
        "seed": seed,
    }
    (out_dir / "corpus.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats
