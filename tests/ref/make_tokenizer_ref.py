#!/usr/bin/env python3
"""Reference fixtures for awqkit's tokenizer and calibration tests.

Run from the repository root:   python3 tests/ref/make_tokenizer_ref.py
Needs: tokenizers (Hugging Face, the Rust library's Python binding) and the
`zstd` command. Writes (all small, committed):

  tests/ref/tokenizer/llama3_synth/tokenizer.json
      a tiny byte-level BPE trained here with the tokenizers library in the
      Llama-3 layout: Sequence[Split(Llama-3 regex, Isolated),
      ByteLevel(use_regex=false)] pre-tokenizer, ignore_merges=true,
      Sequence[ByteLevel, TemplateProcessing(<|begin_of_text|> $A)]
      post-processor, plus one vocabulary word that only ignore_merges can
      produce (" qwertyuiop").
  tests/ref/tokenizer_ref.json
      suites of (tokenizer, optional JSON patch) -> for each test string the
      ids with and without special tokens and the decoded text, all computed
      by tokenizers.Tokenizer; plus id-sequence checks on
      data/text/wiki.test.raw (the first 20 KB as explicit ids, and the whole
      file as count + FNV-1a-64 checksum).
  tests/ref/calib_ref.json
      AutoAWQ's calibration recipe (awq/utils/calib_data.py
      get_calib_dataset: text.strip(), tokenizer.encode (special tokens on),
      skip > max_seq_len, skip empty, keep n_samples, concatenate, cut into
      len // max_seq_len blocks) reimplemented here on
      data/text/calib-wikitext2-valid.jsonl.zst; block count, stats, checksum
      and first / last ids. The shuffled variant uses awqkit's documented
      shuffle (splitmix64-driven Fisher-Yates), reimplemented below.

The C tests apply the same patches (see tests/unit/test_tokenizer_ref.c) and
compare exactly.
"""
import json
import os
import struct
import subprocess
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "data")
REF = os.path.join(ROOT, "tests", "ref")

LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CASES = [
    # English
    "Hello world", " Hello World!", "The quick brown fox jumps over the lazy dog.",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "Mixed: naïve café — “quotes” ‘single’ … ellipsis; tabs\tand\r\nCRLF",
    # code
    "def f(x):\n    return x ** 2  # square\n\nint main(void) { return 0; }\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
    "    if (x) {\n        y = \"a\\tb\";\n    }",
    # numbers
    "3 33 333 3333 33333 1234567890 3.14159 -42 1e-9 0x1F 1,000,000",
    "2024-01-15T10:30:00Z ٣٤٥ ①②③",
    # whitespace runs
    "a  b   c    d\t\te\n\n\nf \n \n g", "                                   x",
    "\t\t\t\n\n\n   ", " ", "  ", "\n", "", "x" + " " * 30 + "y" + " " * 47,
    # emoji
    "🚀 (normal) 😶‍🌫️ 🦙🦙 ✅ 👩‍👩‍👧‍👦 🇫🇷",
    # CJK and other scripts
    "我想在apple工作1314151天～", "東京タワーは日本の電波塔です。", "한국어 텍스트",
    "нещо на Български", "कान्तिपुर", "កាន់តែពិសេសអាចខលចេញ",
    # decomposed accents (NFC normalizers compose these), compatibility chars
    "Cafe\u0301 re\u0301sume\u0301 Zu\u0308rich", "e\u0301\u0301 A\u030a Å", "ﬁ ﬀ ² ½ Ⅻ ㎏",
    # case
    "ÀÉÎ İstanbul ΣΑΣ Straße",
    # Unicode whitespace (NEL, NBSP, thin space, ideographic space, ZWSP)
    "a\u0085b c\u00a0d e\u2009f g\u3000h i\u200bj",
    # special / added tokens written in the text
    "<|endoftext|>", "Hello<|endoftext|>world", " <|endoftext|> x <|padding|>\n<|endoftext|>",
    "<s>Hello</s> <unk> </s>", "<|begin_of_text|>Hi<|end_of_text|>",
    "a <mask> b<mask>c [R]  d hello helloX Xhello hello, World world",
]


def fnv64(ids):
    h = 0xcbf29ce484222325
    for b in struct.pack("<%di" % len(ids), *ids):
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def apply_patch(tj, patch):
    tj = json.loads(json.dumps(tj))
    for k, v in (patch or {}).items():
        if k == "model":
            tj["model"].update(v)
        elif k == "added_tokens_extra":
            tj["added_tokens"] = list(tj.get("added_tokens") or []) + v
        else:
            tj[k] = v
    return tj


def run_cases(tok):
    out = []
    for text in CASES:
        e0 = tok.encode(text, add_special_tokens=False).ids
        e1 = tok.encode(text, add_special_tokens=True).ids
        out.append({"text": text, "ids": e0, "ids_special": e1,
                    "decoded": tok.decode(e0, skip_special_tokens=False)})
    return out


def file_checks(tok, with_prefix):
    raw = open(os.path.join(DATA, "text", "wiki.test.raw"), "rb").read()
    checks = []
    if with_prefix:
        n = 20480
        while raw[n] & 0xC0 == 0x80:  # cut at a character boundary
            n -= 1
        ids = tok.encode(raw[:n].decode("utf-8"), add_special_tokens=False).ids
        checks.append({"path": "text/wiki.test.raw", "bytes": n, "n": len(ids),
                       "fnv64": fnv64(ids), "ids": ids})
    ids = tok.encode(raw.decode("utf-8"), add_special_tokens=False).ids
    checks.append({"path": "text/wiki.test.raw", "bytes": -1, "n": len(ids), "fnv64": fnv64(ids)})
    return checks


def make_llama3_synth():
    raw = open(os.path.join(DATA, "text", "wiki.test.raw"), encoding="utf-8").read()[:300000]
    lines = [l for l in raw.split("\n") if l.strip()]
    lines += ["def main():\n    return 0\n", "x = [1, 2, 3]  # list\n", "I'm, you're, we'll, they'd"]
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>"]
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, min_frequency=2)
    tok.train_from_iterator(lines, trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    tj = json.loads(tok.to_str())
    # a word only ignore_merges can produce: in the vocabulary, unreachable by merges
    tj["model"]["vocab"]["Ġqwertyuiop"] = max(tj["model"]["vocab"].values()) + 1
    d = os.path.join(REF, "tokenizer", "llama3_synth")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
    return "ref:tokenizer/llama3_synth"


def tokenizer_path(spec):
    if spec.startswith("ref:"):
        return os.path.join(REF, spec[4:], "tokenizer.json")
    p = os.path.join(DATA, spec)
    return os.path.join(p, "tokenizer.json") if os.path.isdir(p) else p


def bl(use_regex=False, aps=False):
    return {"type": "ByteLevel", "add_prefix_space": aps, "trim_offsets": True, "use_regex": use_regex}


def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern},
            "behavior": behavior, "invert": invert}


def suites():
    synth = make_llama3_synth()
    tl = "tiny-llama"
    spm = "tokenizers/llama-spm"
    tiny = load_json(tokenizer_path(tl))
    v = tiny["model"]["vocab"]
    new_id = max(v.values()) + 1
    extra_added = [
        {"id": new_id, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
         "normalized": False, "special": True},
        {"id": new_id + 1, "content": "[R]", "single_word": False, "lstrip": False, "rstrip": True,
         "normalized": False, "special": True},
        {"id": v.get("hello", new_id + 2), "content": "hello", "single_word": True, "lstrip": False,
         "rstrip": False, "normalized": False, "special": False},
        {"id": v.get("World", new_id + 3), "content": "World", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": True, "special": False},
    ]
    eot = 4095
    S = [
        {"name": "gpt-neox", "tokenizer": "tokenizers/gpt-neox", "wiki": "full"},
        {"name": "tiny-llama", "tokenizer": tl, "wiki": "prefix+full"},
        {"name": "gpt2", "tokenizer": "tokenizers/gpt2/tokenizer.json", "wiki": "full"},
        {"name": "llama-spm", "tokenizer": spm, "wiki": "full"},
        {"name": "llama3-synth", "tokenizer": synth, "wiki": "full"},
        {"name": "qwen2-style", "tokenizer": tl, "patch": {
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(QWEN2_PAT, "Isolated"), bl()]}}},
        {"name": "smollm-style digits", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True}, bl(use_regex=True)]}}},
        {"name": "digits contiguous", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": False}, bl(use_regex=True)]}}},
        {"name": "bytelevel prefix space", "tokenizer": tl, "patch": {
            "pre_tokenizer": bl(use_regex=True, aps=True)}},
        {"name": "bytelevel no regex", "tokenizer": tl, "patch": {"pre_tokenizer": bl()}},
        {"name": "split removed", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split(r"\s+", "Removed"), bl()]}}},
        {"name": "split merged-with-previous", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(" ", "MergedWithPrevious", regex=False), bl()]}}},
        {"name": "split merged-with-next", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(r"[0-9]|\s", "MergedWithNext"), bl()]}}},
        {"name": "split contiguous", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(r"\p{P}", "Contiguous"), bl()]}}},
        {"name": "split invert", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(r"\p{L}+", "Isolated", invert=True), bl()]}}},
        {"name": "split empty matches", "tokenizer": tl, "patch": {
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                split(r"x*", "Isolated"), bl()]}}},
        {"name": "normalizers", "tokenizer": tl, "patch": {
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True,
                                                         "strip_right": True},
                {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"}]}}},
        {"name": "nfd", "tokenizer": tl, "patch": {"normalizer": {"type": "NFD"}}},
        {"name": "added token flags", "tokenizer": tl, "patch": {
            "added_tokens_extra": extra_added,
            "normalizer": {"type": "Replace", "pattern": {"String": "w"}, "content": "W"},
            "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", eot],
                               "cls": ["<|endoftext|>", eot], "trim_offsets": True,
                               "add_prefix_space": False}}},
        {"name": "metaspace first", "tokenizer": spm, "patch": {
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                              "split": False}}},
        {"name": "metaspace always split", "tokenizer": spm, "patch": {
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                              "split": True},
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
                {"type": "ByteFallback"}, {"type": "Fuse"}]}}},
        {"name": "metaspace never", "tokenizer": spm, "patch": {
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never",
                              "split": True}}},
        {"name": "spm unk fused", "tokenizer": spm, "patch": {
            "model": {"byte_fallback": False, "fuse_unk": True}}},
        {"name": "spm unk unfused", "tokenizer": spm, "patch": {
            "model": {"byte_fallback": False, "fuse_unk": False},
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                          {"Sequence": {"id": "A", "type_id": 0}},
                                          {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                        {"Sequence": {"id": "B", "type_id": 1}}],
                               "special_tokens": {
                                   "<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                   "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}}},
        {"name": "llama3-synth no ignore_merges", "tokenizer": synth,
         "patch": {"model": {"ignore_merges": False}}},
    ]
    out = []
    for s in S:
        tj = load_json(tokenizer_path(s["tokenizer"]))
        tj = apply_patch(tj, s.get("patch"))
        tok = Tokenizer.from_str(json.dumps(tj))
        e = {"name": s["name"], "tokenizer": s["tokenizer"], "patch": s.get("patch"),
             "cases": run_cases(tok)}
        if "wiki" in s:
            e["file_checks"] = file_checks(tok, s["wiki"].startswith("prefix"))
        out.append(e)
        print("suite %-32s %d cases" % (s["name"], len(e["cases"])), file=sys.stderr)
    return out


# ------------------------------------------------------------ calibration

def calib_docs():
    p = os.path.join(DATA, "text", "calib-wikitext2-valid.jsonl.zst")
    raw = subprocess.run(["zstd", "-dc", p], check=True, capture_output=True).stdout
    docs = []
    for line in raw.decode("utf-8").split("\n"):
        if line.strip():
            docs.append(json.loads(line)["text"])
    return docs


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def awq_shuffle(n, seed):
    perm = list(range(n))
    s = seed
    for i in range(n - 1, 0, -1):
        s, r = splitmix64(s)
        j = r % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def autoawq_recipe(tok, docs, n_samples, seqlen):
    """awq/utils/calib_data.py get_calib_dataset, on a list of texts."""
    samples, read, empty, too_long = [], 0, 0, 0
    for text in docs:
        read += 1
        line_encoded = tok.encode(text.strip(), add_special_tokens=True).ids
        if len(line_encoded) > seqlen:
            too_long += 1
            continue
        if len(line_encoded) == 0:
            empty += 1
            continue
        samples.append(line_encoded)
        if len(samples) == n_samples:
            break
    cat = [i for s in samples for i in s]
    n_split = len(cat) // seqlen
    blocks = [cat[i * seqlen:(i + 1) * seqlen] for i in range(n_split)]
    flat = [i for b in blocks for i in b]
    return {"docs_read": read, "docs_kept": len(samples), "docs_empty": empty,
            "docs_too_long": too_long, "tokens": len(cat), "blocks": n_split,
            "fnv64": fnv64(flat), "first_ids": flat[:32], "last_ids": flat[-32:]}


def calib():
    docs = calib_docs()
    assert len(docs) == 1841, len(docs)
    runs = []
    for name, spec, n, L, shuffle in [
            ("tiny-llama default", "tiny-llama", 128, 512, False),
            ("tiny-llama n16 L128", "tiny-llama", 16, 128, False),
            ("tiny-llama L64 (long docs skipped)", "tiny-llama", 128, 64, False),
            ("tiny-llama shuffled seed 42", "tiny-llama", 128, 512, True),
            ("llama-spm default (BOS per doc)", "tokenizers/llama-spm", 128, 512, False)]:
        tok = Tokenizer.from_file(tokenizer_path(spec))
        order = [docs[i] for i in awq_shuffle(len(docs), 42)] if shuffle else docs
        r = autoawq_recipe(tok, order, n, L)
        r.update({"name": name, "tokenizer": spec, "n_samples": n, "seqlen": L,
                  "shuffle": shuffle, "seed": 42, "path": "text/calib-wikitext2-valid.jsonl.zst"})
        runs.append(r)
        print("calib %-36s blocks %d" % (name, r["blocks"]), file=sys.stderr)
    return {"docs_in_file": len(docs), "runs": runs}


def main():
    import tokenizers
    gen = "tests/ref/make_tokenizer_ref.py, tokenizers %s" % tokenizers.__version__
    with open(os.path.join(REF, "tokenizer_ref.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": gen, "suites": suites()}, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(REF, "calib_ref.json"), "w", encoding="utf-8") as f:
        json.dump(dict(generator=gen, **calib()), f, ensure_ascii=True, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
