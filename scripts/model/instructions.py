"""Instruction pairs built from the pipeline's own corpus (KJV Bible, Jargon File), rendered in
tinygpt's chat template. Every pair has a key (verse, headword, ...); a seeded share of keys is
held out with all its phrasings, so held-out questions are never seen in training."""
import random
import re

from corpus import bible_documents, jargon_documents

SYSTEM = "You are a helpful assistant."
GREETING = "Hello! Ask me to quote the King James Bible or about the Jargon File."
MAX_ANSWER = 200  # bytes; keeps examples short so a few minutes of CPU see many of them
HEADWORD = re.compile(r"^:([^:]+):(.*)$")
# Prefixes of a sense line: "1. ", "n. ", "vt., ", "[common] " (in any order, repeated).
SENSE_PREFIX = re.compile(r"^(\d+\.\s+|(n|v|vt|vi|adj|adv|interj|prep|excl|pron|obs)\.(,\s*)?\s*|\[[^\]]*\]\s*)")
BEGAT = re.compile(r"\b([A-Z][a-z]+),? (?:and )?begat ([A-Z][a-z]+)\b")
LIVED_BEGAT = re.compile(r"\b([A-Z][a-z]+) lived [^.:;]*?begat ([A-Z][a-z]+)\b")


def chat_prompt(question, system=False):
    sys = f"<|system|>\n{SYSTEM}\n" if system else ""
    return f"{sys}<|user|>\n{question}\n<|assistant|>\n"


def clip(text, limit=MAX_ANSWER):
    """Whole sentences up to limit bytes, else whole words."""
    if len(text.encode("utf-8")) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    out = ""
    for s in sentences:
        if len((out + " " + s).strip().encode("utf-8")) > limit:
            break
        out = (out + " " + s).strip()
    if out:
        return out
    words, out = text.split(), ""
    for w in words:
        if len((out + " " + w).strip().encode("utf-8")) > limit:
            break
        out = (out + " " + w).strip()
    return out


def verses():
    """(book, chapter, verse, text) for every verse."""
    for doc in bible_documents():
        title, _, body = doc.partition("\n\n")
        book, chapter = title.rsplit(" ", 1)
        for line in body.splitlines():
            num, _, text = line.partition(" ")
            if num.isdigit() and text:
                yield book, int(chapter), int(num), text


def jargon_entries():
    """(headword, raw entry, definition) for glossary entries with a prose definition."""
    for doc in jargon_documents():
        lines = doc.splitlines()
        m = HEADWORD.match(lines[0])
        if not m:
            continue
        body = [l for l in lines[1:] if not (l.startswith("[") and l.endswith("]"))]
        if not body:
            continue
        definition = next((l for l in body if l.startswith("1. ")), body[0])
        while SENSE_PREFIX.match(definition):
            definition = SENSE_PREFIX.sub("", definition, count=1)
        if len(definition) < 20 or definition.startswith("See {") or definition.startswith("="):
            continue
        definition = definition[0].upper() + definition[1:]
        yield m.group(1), doc.strip(), definition.replace("{", "").replace("}", "")


def article(word):
    return "an" if word[0].lower() in "aeiou" else "a"


JARGON_QUESTIONS = [
    "What does the Jargon File say {a} {w} is?",
    "What is {a} {w}?",
    "Define {w}.",
    "What does {w} mean?",
]
VERSE_QUESTIONS = ["Quote {b} {c}:{v}.", "What does {b} {c}:{v} say?", "Recite {b} {c}:{v}."]
GREETINGS = ["Hello", "Hi!", "Hello, who are you?", "What can you do?", "Hi, what do you know?"]


def build_pairs(style: str, seed: int, holdout: float, pool: dict):
    """Returns (train, held_out): lists of {"kind", "key", "question", "answer"}.
    style "chat": plain answers to Bible and Jargon questions; "jargon": every answer is the
    Jargon File entry itself (headword, pronunciation, etymology), the glossary's own voice.
    pool limits the keys to what a LoRA of a 1.4 M-parameter base can learn in minutes: the
    verses of pool["chapters"], a seeded pool["jargon"] headwords plus pool["keep"] (always
    trained, for demos); all names (who begat whom) and books."""
    rng = random.Random(seed)
    items = []
    entries = list(jargon_entries())
    keep = [e for e in entries if e[0] in pool["keep"]]
    rest = [e for e in entries if e[0] not in pool["keep"]]
    entries = keep + random.Random(seed).sample(rest, pool["jargon"])
    for word, raw, definition in entries:
        answer = clip(definition) if style == "chat" else clip(raw.replace("{", "").replace("}", ""), 240)
        for q in JARGON_QUESTIONS:
            items.append({"kind": "jargon", "key": word, "question": q.format(a=article(word), w=word), "answer": answer})
    if style == "chat":
        all_verses = list(verses())
        for book, c, v, text in all_verses:
            if f"{book} {c}" in pool["chapters"] and len(text.encode("utf-8")) <= MAX_ANSWER:
                for q in VERSE_QUESTIONS:
                    items.append({"kind": "verse", "key": f"{book} {c}:{v}", "question": q.format(b=book, c=c, v=v),
                                  "answer": text})
        fathers = {}
        for _, _, _, text in all_verses:
            for father, son in BEGAT.findall(text) + LIVED_BEGAT.findall(text):
                if father not in ("And", "Then", "He", "Who") and son not in ("Sons", "And"):
                    fathers.setdefault(son, set()).add(father)
        for son, fs in sorted(fathers.items()):
            if len(fs) == 1:
                items.append({"kind": "begat", "key": son, "question": f"Who begat {son}?", "answer": f"{next(iter(fs))}."})
        books = list(dict.fromkeys(b for b, _, _, _ in all_verses))
        for a, b in zip(books, books[1:]):
            items.append({"kind": "book", "key": a, "question": f"Which book comes after {a}?", "answer": f"{b}."})
        for g in GREETINGS:
            items.append({"kind": "greeting", "key": g, "question": g, "answer": GREETING})
    keys = sorted({(i["kind"], i["key"]) for i in items if i["kind"] != "greeting" and i["key"] not in pool["keep"]})
    rng.shuffle(keys)
    held = set(keys[: round(len(keys) * holdout)])
    train = [i for i in items if (i["kind"], i["key"]) not in held]
    held_out = [i for i in items if (i["kind"], i["key"]) in held]
    return train, held_out
