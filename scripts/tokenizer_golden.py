#!/usr/bin/env python3
"""Tokenizer golden data: the corpus and what the pinned llama.cpp makes of it.

Run through scripts/tokenizer-golden.sh (docs/tokenizer-golden.md), which
builds the C++ tool this script drives. The corpus is defined here (CORPUS
below: hand-written strings, then systematically generated ones); the script
writes it to tests/data/tokenizer/corpus.json and, for each model, runs the
tool over it and writes tests/data/tokenizer/<model>.json. Ids are positions
in the corpus (HAND, then generated(), then EXTRA) after dropping duplicates:
add new strings to EXTRA to keep the existing ids.
"""

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import unicodedata

# --------------------------------------------------------------------------
# The corpus: (category, [strings]) in order.

HAND = [
    ("empty", [""]),
    ("single_char", [chr(c) for c in range(0x20, 0x7F)] + [
        "\n", "\t", "\r", "é", "ß", "ñ", "ı", "İ", "Ω", "ж", "中", "あ", "ア", "한", "€", "£", "¥",
        "—", "…", "•", "→", "∑", "√", "ﬁ", "①", "½", "²", "😀", "𝄞", "𠀀",
    ]),
    ("english", [
        "Hello world",
        "Hello, World!",
        "hello world",
        "HELLO WORLD",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
        "What is the capital of France?",
        "Once upon a time, there was a little girl named Lily.",
        "I like apples, oranges, and bananas; however, I prefer grapes.",
        "She said: \"Don't go!\" and left.",
        "Mr. Smith went to Washington D.C. on Jan. 5th.",
        "e.g. i.e. etc. vs. a.m. p.m.",
        "camelCaseIdentifier snake_case_identifier kebab-case-identifier",
        "HeLLo WoRLd",
        "iPhone eBay McDonald's O'Neill",
        "Q: Why? A: Because.",
        "Title Case For A Headline",
        "a b c d e f g",
        "A",
        "I",
        "OK",
    ]),
    ("contraction", [
        "it's", "IT'S", "It's", "don't", "DON'T", "Don't", "you're", "YOU'RE", "we've", "WE'VE",
        "I'm", "I'M", "we'll", "WE'LL", "he'd", "HE'D", "'s", "'S", "'t", "'T", "'re", "'RE",
        "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'d", "'D", " 's", "'sup", "'tis", "y'all",
        "I'll've", "rock 'n' roll", "don’t (curly apostrophe)",
        "She's said they'd've known, hadn't they? We're sure it'll be fine; you'd agree.",
        "THEY'RE HERE AND WE'VE GOT IT'S WHAT HE'D WANT",
        "the dog's bone", "the dogs' bones", "'quoted'", "''double single''",
    ]),
    ("number", [
        "0", "00", "007", "3.14159", "-42", "+1", "1,000,000", "1 000 000", "1.000.000,00",
        "1e-10", "6.022e23", "0x1F", "0b1010", "0o777", "1/2", "50%", "$19.99", "€5", "10km",
        "2024-01-15", "12:34:56", "v1.2.3", "192.168.0.1", "+1 (555) 123-4567", "3rd 21st 100th",
        "one 1 two 2 three 3", "٣٤٥ (Arabic-Indic digits)", "१२३ (Devanagari digits)",
        "１２３ (fullwidth digits)", "Ⅻ ⅻ (roman numerals)", "𝟘𝟙𝟚𝟛 (math digits)",
        "12345678901234567890123456789012345678901234567890",
    ]),
    ("whitespace", [
        " ", "  ", "   ", "   hello", "hello   ", "hello  world", "hello   world", " a", "a ",
        "\n", "\n\n", "\n\n\n", "\t", "\t\t", "\r\n", "\r", "\r\n\r\n", "a\r\nb", "a\rb",
        "line1\nline2", "line1\n\nline2", "line1\n\n\nline2", "\n hello", "hello \n", " \n ",
        "\n \n", "\t\tindented", "a\tb\tc", "    four spaces", "\n\n\nx", "x\n\n\n",
        " \t \n ", "end with space ", "  two leading and two trailing  ", "\t\n", "\n\t",
        "word\n", "word\n\n", "\nword", " \n", "\n ", "a \n b", "a  \n  b", "tab\tthen  spaces",
    ]),
    ("leading_space", [
        " Hello", " hello world", " HELLO", " 123", " 1", " !", " ...", " é", " 中文", " 😀",
        " <|im_start|>", " <start_of_turn>", " don't", " 's", "  Hello", "   Hello",
        " The quick brown fox.", " \"quoted\"", " (parenthesis)", " -dash", " #hash",
    ]),
    ("punctuation", [
        "!!!", "???", "...", "…", "!?!?", "?!", "----------", "==========", "__init__",
        "**bold**", "*italic*", "#####", "// comment", "/* block */", "<<>>", "<>", "<<<", ">>>",
        "()[]{}", "((()))", "@#$%^&*", "~`|\\", "\\n literally", "\\\\", "\"\"\"", "'''", "```",
        ",,,", ";;", "::", "->", "=>", "!=", "==", "<=", ">=", "&&", "||", "...!!!???", "!!!!!!!!!!!!!!!!",
        "«guillemets»", "„German quotes“", "“smart quotes”", "‘single smart’", "¿Qué?", "¡Hola!",
        "—em dash—", "–en dash–", "a·b", "§ 3", "© ® ™", "°C", "±", "×÷",
    ]),
    ("long_word", [
        "supercalifragilisticexpialidocious",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "Donaudampfschifffahrtsgesellschaftskapitän",
        "antidisestablishmentarianism",
        "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
        "ANTIDISESTABLISHMENTARIANISM",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababababababababab",
        "thisisaverylongwordwithoutanyspacesthatkeepsgoingandgoing",
        "internationalization localization i18n l10n",
        "Hippopotomonstrosesquippedaliophobia",
        "muvaffakiyetsizleştiricileştiriveremeyebileceklerimizdenmişsinizcesine",
    ]),
    ("accent", [
        "café", "naïve", "résumé", "Ærøskøbing", "Ça va?", "jalapeño", "über", "Ångström",
        "Zürich Straße", "façade", "crème brûlée", "São Paulo", "Dvořák", "Łódź", "Şişli",
        "Việt Nam", "Ελληνικά", "ÀÉÎÕÜ", "àéîõü",
    ]),
    ("cjk", [
        "你好", "你好，世界！", "中华人民共和国", "我爱自然语言处理。",
        "こんにちは", "こんにちは世界", "カタカナ", "日本語のテキストです。",
        "안녕하세요", "한국어 텍스트", "ＡＢＣ１２３", "漢字かなカナ混じり文",
        "　ideographic space", "「引用」", "𠀀𠀁𠀂 (CJK extension B)", "中 文 之 间 有 空 格",
    ]),
    ("emoji", [
        "😀", "😀😀😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🏴‍☠️", "🇺🇸", "🇫🇷🇩🇪",
        "1️⃣", "#️⃣", "❤️", "❤", "☺️", "✨ sparkles ✨", "I ❤️ NY", "Hello 👋 world 🌍!",
        "🤖🧠💡", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝", "𐍈 (Gothic hwair)", "𝄞 music", "🀄 mahjong", "🏻",
        "🧑‍🤝‍🧑", "👁️‍🗨️", "🫠🫡🫶",
    ]),
    ("mixed_script", [
        "Hello мир 世界 مرحبا שלום",
        "Привет, как дела?",
        "مرحبا بالعالم",
        "שלום עולם",
        "नमस्ते दुनिया",
        "สวัสดีชาวโลก",
        "Γειά σου Κόσμε",
        "ქართული ენა",
        "Հայերեն",
        "ትግርኛ",
        "English and 日本語 and 한국어 mixed",
        "abcабвαβγ",
        "x² + y² = z²",
        "∀x∈ℝ: x²≥0",
        "Türkçe: ıİ iI",
    ]),
    ("control", [
        "\x00", "a\x00b", "\x01\x02\x03", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31mred\x1b[0m",
        "\x7f", "\x85", "\u00a0", "a\u00a0b", "\u2009thin", "\u200b", "a\u200bb", "\u200c", "\u200d",
        "\u2028", "\u2029", "\ufeff", "\ufeffBOM start", "\u3000", "\ufffd", "\ue000", "\U0010fffd",
        "\U000e0041", "\u202eRTL override", "\u00ad soft hyphen",
    ]),
    ("special_smollm2", [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>", "<jupyter_code>",
        "<empty_output>", "<|im_start|><|im_end|>", "hi<|im_end|>", "text <|im_end|>",
        "<|im_end|> after", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|im_start|>\n",
        "\n<|im_start|>", "<|im_start|>user", "<|IM_START|>", "<|im_start|> <|im_end|>",
        "<<|im_start|>>", "<|endoftext|>hello<|endoftext|>",
    ]),
    ("special_gemma3", [
        "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>", "<mask>",
        "<unused0>", "<unused42>", "<start_of_image>", "<end_of_image>", "[multimodal]",
        "<bos>hello", "hello<eos>", "<start_of_turn>model", "<start_of_turn> model",
        " <end_of_turn>", "<end_of_turn>\n", "<start_of_turn><end_of_turn>", "<bos><bos>",
        "<BOS>", "<table><tr><td>cell</td></tr></table>", "<b>bold</b> <i>it</i>",
        "<code>x</code>", "<h1>Title</h1>", "<div><span>x</span></div>", "<s>strike</s>",
    ]),
    ("chat_template", [
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n",
        "<|im_start|>assistant\n",
        "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello! How can I help?<end_of_turn>\n"
        "<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n",
        "<start_of_turn>model\n",
        "### Instruction:\nSummarize.\n\n### Response:\n",
        "[INST] Hello [/INST]",
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]",
        "User: hi\nAssistant: hello\n",
    ]),
    ("partial_special", [
        "<|im_sta", "<|im_start", "<|im_start|", "|im_start|>", "im_start", "<|", "|>", "<||>",
        "<|im_end", "<|endoftext", "<|endoftext|", "<start_of_tur", "<start_of_turn", "start_of_turn>",
        "<end_of_turn", "<bo", "<bos", "bos>", "<eos", "<<bos>>", "< bos >", "<|im_start |>",
        "<|im_sta<|im_end|>", "<start_of<end_of_turn>",
    ]),
    ("code_python", [
        "def hello():\n    print(\"Hello, world!\")\n",
        "import numpy as np\n\nx = np.zeros((3, 4), dtype=np.float32)\nprint(x.shape)\n",
        "class Foo(Base):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, x: int = 0) -> None:\n"
        "        self.x = x  # comment\n",
        "for i in range(10):\n\tif i % 2 == 0:\n\t\tcontinue\n\tyield i ** 2\n",
        "lambda x: x+1",
        "if __name__ == \"__main__\":\n    main()",
        "result = [f\"{k}={v!r}\" for k, v in sorted(d.items()) if v is not None]",
        "    return self._cache.get(key, default)",
        "@decorator(arg=1)\nasync def f(*args, **kwargs):\n    await g()\n",
    ]),
    ("code_rust", [
        "fn main() {\n    println!(\"Hello, world!\");\n}\n",
        "let v: Vec<u32> = (0..10).map(|x| x * 2).collect();",
        "impl<T: Clone + Send> Foo<T> for Bar<'a> where T: 'static {}",
        "#[derive(Debug, Clone, PartialEq)]\npub struct Token {\n    pub id: u32,\n    pub text: String,\n}\n",
        "match x {\n    Some(ref y) => y.len(),\n    None => 0,\n}",
        "use std::collections::HashMap;\nlet mut m: HashMap<&str, i64> = HashMap::new();",
        "Result<Option<Box<dyn Fn(&[u8]) -> usize>>, std::io::Error>",
        "unsafe { *ptr.add(i) = 0u8; }",
    ]),
    ("code_json", [
        "{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"e\"}}",
        "{\n  \"name\": \"parci\",\n  \"version\": \"0.1.0\",\n  \"tags\": [\"llm\", \"ci\"]\n}",
        "[1,2,3,4,5]",
        "{\"unicode\": \"\\u00e9\\ud83d\\ude00\", \"escaped\": \"a\\nb\\tc\"}",
        "{\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}",
    ]),
    ("code_html", [
        "<!DOCTYPE html>\n<html>\n<head><title>Test</title></head>\n<body>\n<p>Hello</p>\n</body>\n</html>",
        "<a href=\"https://example.com\">link</a>",
        "<div class=\"container\" id=\"main\">\n  <span>text</span>\n</div>",
        "<img src=\"a.png\" alt=\"\"/>",
        "&lt;tag&gt; &amp; &quot;quoted&quot; &#169; &nbsp;",
        "<script>alert('x');</script>",
        "<ul>\n  <li>one</li>\n  <li>two</li>\n</ul>",
    ]),
    ("code_other", [
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
        "#!/usr/bin/env bash\nset -euo pipefail\necho \"$HOME\" | grep -v '^#' > /dev/null 2>&1",
        "key: value\nlist:\n  - a\n  - b\n",
        "# Heading\n\n- item 1\n- item 2\n\n```rust\nlet x = 1;\n```\n",
        "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
        "const f = async (x) => { return await fetch(`/api/${x}`); };",
        "\\begin{equation} E = mc^2 \\end{equation}",
        "git commit -m \"fix: handle \\r\\n\"",
        "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-old\n+new\n",
    ]),
    ("url", [
        "https://example.com/path/to/page?q=1&r=two#frag",
        "http://localhost:8080/",
        "user@example.com",
        "mailto:first.last+tag@sub.example.co.uk",
        "/usr/local/bin/llama-tokenize",
        "C:\\Windows\\System32\\drivers\\etc\\hosts",
        "ftp://ftp.example.org/pub/file.tar.gz",
        "www.google.com",
    ]),
    ("long_text", [
        "The tokenizer is a small but important part of a language model. It turns text into a "
        "sequence of integers, and the model never sees anything else. If the tokenizer of an "
        "inference engine differs from the one the model was trained with, even by a single token "
        "at the start of a prompt, the model's outputs change, sometimes subtly and sometimes "
        "drastically. That is why we compare against a reference implementation, byte for byte, "
        "on a corpus that covers English prose, source code, numbers, whitespace, accents, "
        "CJK text, emoji and the special tokens of chat templates.",
        "a" * 256,
        "ab" * 128,
        "😀" * 50,
        "中" * 100,
        " " * 100,
        "\n" * 64,
        "\t" * 40,
        "word " * 60,
        "1234567890" * 10,
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
        "ut labore et dolore magna aliqua.\n\nUt enim ad minim veniam, quis nostrud exercitation "
        "ullamco laboris nisi ut aliquip ex ea commodo consequat.\n",
    ]),
]

# Words whose NFC and NFD forms differ (Hangul decomposes into jamo).
NORMALIZATION_WORDS = [
    "café", "résumé", "naïve", "Ångström", "über", "jalapeño", "Việt Nam", "Ελληνικά", "한국어",
    "ﬁ ligature", "\u212b (angstrom sign)", "\u2126 (ohm sign)", "Ｈｅｌｌｏ (fullwidth)",
]

AFFIX_PREFIXES = ["", " ", "  ", "\n", "\t"]
AFFIX_WORDS = ["hello", "Hello", "HELLO", "42", "!", "é", "中文", "😀", "<|im_end|>", "<end_of_turn>"]
AFFIX_SUFFIXES = ["", " ", "\n"]

RUN_LENGTHS = [1, 2, 3, 4, 5, 8, 16, 30, 31, 32, 33]


def generated():
    out = []
    # NFC vs NFD (and NFKC where it differs: ligatures, compatibility forms).
    # (a form equal to an earlier string is dropped as a duplicate).
    for w in NORMALIZATION_WORDS:
        out.append(("nfc" if unicodedata.is_normalized("NFC", w) else "unnormalized", w))
        for form in ("NFC", "NFD", "NFKC"):
            out.append((form.lower(), unicodedata.normalize(form, w)))
    # Numbers of 1-12 digits (the llama3/smollm pre-tokenizers split digits):
    # bare, after a space, after a letter, before letters, all nines.
    digits = "123456789012"
    for n in range(1, 13):
        d = digits[:n]
        out += [("gen_number", d), ("gen_number", " " + d), ("gen_number", "x" + d),
                ("gen_number", d + "px"), ("gen_number", "9" * n)]
    # Runs of spaces, tabs and newlines, bare and between letters (Gemma's
    # vocabulary holds runs of up to 31 spaces, tabs and newlines as tokens).
    for n in RUN_LENGTHS:
        for ch in (" ", "\t", "\n"):
            out.append(("gen_run", ch * n))
            out.append(("gen_run", "x" + ch * n + "y"))
    # Every prefix x word x suffix: leading/trailing whitespace around words,
    # numbers, punctuation, non-ASCII and special tokens.
    for p in AFFIX_PREFIXES:
        for w in AFFIX_WORDS:
            for s in AFFIX_SUFFIXES:
                out.append(("gen_affix", p + w + s))
    return out


# Later additions, (category, [strings]): appended after everything else.
EXTRA = []


def corpus():
    entries = [(cat, t) for cat, texts in HAND for t in texts]
    entries += generated()
    entries += [(cat, t) for cat, texts in EXTRA for t in texts]
    seen = set()
    cases = []
    for category, t in entries:
        if t not in seen:
            seen.add(t)
            cases.append({"id": len(cases), "category": category, "text": t})
    return cases


# --------------------------------------------------------------------------
# Output: JSON with one case per line; invisible characters are escaped so
# that the files stay readable and survive editors.

def _visible(ch):
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Co", "Cs", "Cn", "Mn", "Me", "Zl", "Zp"):
        return False
    if cat == "Zs" and ch != " ":
        return False
    if 0x1100 <= ord(ch) <= 0x11FF:  # conjoining jamo (NFD Hangul) look like syllables
        return False
    return unicodedata.normalize("NFC", ch) == ch  # singletons such as U+212B ANGSTROM SIGN


def jstr(s):
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif _visible(ch):
            out.append(ch)
        else:
            o = ord(ch)
            if o > 0xFFFF:
                o -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
            else:
                out.append("\\u%04x" % o)
    out.append('"')
    return "".join(out)


def jval(v):
    if isinstance(v, str):
        return jstr(v)
    if isinstance(v, bool) or v is None or isinstance(v, int):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(jval(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(jstr(k) + ": " + jval(x) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def dump_with_list(head, key, rows):
    """A JSON object: the head's keys one per line, then `key` as a list, one row per line."""
    lines = ["{"]
    for k, v in head.items():
        lines.append("  " + jstr(k) + ": " + jval(v) + ",")
    lines.append("  " + jstr(key) + ": [")
    lines += ["    " + jval(r) + ("," if i + 1 < len(rows) else "") for i, r in enumerate(rows)]
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def llama_cpp_commit(sdist):
    """The commit of vendor/llama.cpp: the gitlink in the .git/index the sdist ships."""
    with tarfile.open(sdist) as tf:
        top = tf.getmembers()[0].name.split("/")[0]
        try:
            data = tf.extractfile(top + "/.git/index").read()
        except KeyError:
            return None
    if data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        return None
    off = 12
    for _ in range(count):
        sha = data[off + 40:off + 60].hex()
        flags = struct.unpack(">H", data[off + 60:off + 62])[0]
        start = off + 62 + (2 if version == 3 and flags & 0x4000 else 0)
        end = data.index(b"\0", start)
        if data[start:end] == b"vendor/llama.cpp":
            return sha
        off += (end - off + 8) & ~7
    return None


def run_tool(tool, model, texts, work):
    inp = os.path.join(work, "input.bin")
    with open(inp, "wb") as f:
        for t in texts:
            b = t.encode("utf-8")
            f.write(struct.pack("<I", len(b)) + b)
    out = subprocess.run([tool, model, inp], check=True, stdout=subprocess.PIPE).stdout.decode("ascii")
    lines = out.split("\n")
    assert lines[-1] == "", "tool output does not end with a newline"
    lines.pop()
    tag, n_tokens, add_bos, add_eos = lines[0].split(" ")
    assert tag == "vocab"
    info = {"n_tokens": int(n_tokens), "add_bos": add_bos == "1", "add_eos": add_eos == "1"}
    tag, bos, eos, eot = lines[1].split(" ")
    assert tag == "special"
    info.update({"bos": int(bos), "eos": int(eos), "eot": int(eot)})
    assert lines[2].startswith("eog")
    info["eog"] = [int(x) for x in lines[2][3:].split()]
    i = 3
    while i < len(lines) and lines[i].startswith("meta "):
        _, key, val = lines[i].split(" ", 2)
        info[key] = val
        i += 1
    body = lines[i:]
    assert len(body) == 5 * len(texts), (len(body), len(texts))
    results = []
    for k in range(len(texts)):
        p, n, d, e, f = body[5 * k:5 * k + 5]
        assert p[0] == "P" and n[0] == "N" and d[0] == "D" and e[0] == "E" and f[0] == "F"
        results.append({
            "parse_special": [int(x) for x in p[1:].split()],
            "plain": [int(x) for x in n[1:].split()],
            "detok": bytes.fromhex(d[2:]),
            "detok_plain": bytes.fromhex(e[2:]),
            "detok_nospecial": bytes.fromhex(f[2:]),
        })
    return info, results


def cross_check(llama_tokenize, model, texts, results, work):
    """llama-tokenize -f FILE --no-escape --ids [--no-parse-special] must agree
    with the tool (it passes add_special = the model's add_bos)."""
    path = os.path.join(work, "check.txt")
    for text, res in zip(texts, results):
        with open(path, "wb") as f:
            f.write(text.encode("utf-8"))
        for flags, want in (([], res["parse_special"]), (["--no-parse-special"], res["plain"])):
            cmd = [llama_tokenize, "-m", model, "-f", path, "--no-escape", "--ids", "--log-disable"] + flags
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
            got = json.loads(out.decode().strip().splitlines()[-1])
            if got != want:
                sys.exit(f"tokenizer-golden: llama-tokenize {' '.join(flags)} disagrees on {text!r}: "
                         f"{got} != {want}")


# Cross-checked with llama-tokenize: newlines, leading and trailing spaces,
# backslashes, special tokens, non-ASCII.
CROSS_CHECK = [
    " Hello",
    "word\n\n",
    "\\n literally",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "Hello мир 世界 مرحبا שלום",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--llama-tokenize", required=True)
    ap.add_argument("--sdist", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    cases = corpus()
    texts = [c["text"] for c in cases]
    os.makedirs(args.out, exist_ok=True)
    # corpus.json is a plain list of {"id", "category", "text"}.
    corpus_text = "[\n" + ",\n".join(jval(c) for c in cases) + "\n]\n"
    assert json.loads(corpus_text) == cases
    write_atomic(os.path.join(args.out, "corpus.json"), corpus_text)
    corpus_sha = hashlib.sha256(corpus_text.encode("utf-8")).hexdigest()

    sdist_name = os.path.basename(args.sdist)
    version = sdist_name[len("llama_cpp_python-"):-len(".tar.gz")]
    commit = llama_cpp_commit(args.sdist)
    llama_cpp = f"llama-cpp-python {version} vendored llama.cpp"
    if commit:
        llama_cpp += f" (ggml-org/llama.cpp@{commit})"

    check_idx = [texts.index(t) for t in CROSS_CHECK]
    summary = []
    for spec in args.model:
        name, path = spec.split("=", 1)
        info, results = run_tool(args.tool, path, texts, args.work)
        cross_check(args.llama_tokenize, path, [texts[i] for i in check_idx],
                    [results[i] for i in check_idx], args.work)
        rows = []
        bad = []
        for c, r in zip(cases, results):
            row = {"id": c["id"], "parse_special": r["parse_special"], "plain": r["plain"]}
            try:
                row["detokenized"] = r["detok"].decode("utf-8")
            except UnicodeDecodeError:
                row["detokenized"] = None
                row["detokenized_hex"] = r["detok"].hex()
            if r["detok_nospecial"] != r["detok"]:
                row["detokenized_nospecial"] = r["detok_nospecial"].decode("utf-8", "replace")
            row["roundtrip"] = r["detok"] == c["text"].encode("utf-8")
            row["plain_roundtrip"] = r["detok_plain"] == c["text"].encode("utf-8")
            if not row["roundtrip"]:
                bad.append(c["id"])
            rows.append(row)
        head = {
            "model": os.path.basename(path),
            "model_sha256": sha256_file(path),
            "llama_cpp": llama_cpp,
            "corpus": "corpus.json",
            "corpus_sha256": corpus_sha,
            "tokenizer": {k: info[k] for k in sorted(info)},
            "modes": {
                "parse_special": "llama_tokenize(vocab, text, add_special=true, parse_special=true)",
                "plain": "llama_tokenize(vocab, text, add_special=true, parse_special=false)",
                "add_special": "true in both: BOS/EOS as the model's add_bos/add_eos ask",
                "detokenized": "llama_detokenize(vocab, parse_special ids, remove_special=true, "
                               "unparse_special=true): a leading BOS (and trailing EOS) that "
                               "add_special added is dropped, control tokens are written as their text; "
                               "null with detokenized_hex when not UTF-8",
                "detokenized_nospecial": "only where it differs from detokenized: the same with "
                                         "unparse_special=false (control tokens are dropped)",
                "roundtrip": "detokenized == text",
                "plain_roundtrip": "llama_detokenize of the plain ids, same flags, == text",
            },
        }
        write_atomic(os.path.join(args.out, name + ".json"), dump_with_list(head, "cases", rows))
        summary.append(f"{name}: {len(rows)} cases, {len(bad)} do not round-trip")
    cats = {}
    for c in cases:
        cats[c["category"]] = cats.get(c["category"], 0) + 1
    print(f"tokenizer-golden: {len(cases)} strings in {args.out}/corpus.json: "
          + ", ".join(f"{k} {v}" for k, v in cats.items()), file=sys.stderr)
    for s in summary:
        print("tokenizer-golden: " + s, file=sys.stderr)


if __name__ == "__main__":
    main()
