"""scripts/seqserve-pack on its own (no server): refusals that leave the repository untouched, the
cleanup of its staging folder when a later step fails or is interrupted, and a TorchScript pack of
tiny random checkpoints whose config, manifest and model file are checked here.

Checkpoints are made here with transformers (random weights, a few MB); the BERT one borrows the
all-MiniLM-L6-v2 tokenizer when that package is installed. No pt2 compile (minutes on small
machines): the server tests cover .pt2 packages.
"""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from google.protobuf import json_format, text_format
from seqpack import config_proto

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKER = os.path.join(ROOT, "scripts", "seqserve-pack")
SCRIPTS = os.path.join(ROOT, "scripts")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load's
TOKENIZE_BINARY = None  # set from --tokenize-binary by the fixture below


@pytest.fixture(autouse=True, scope="module")
def _tokenize_binary(request):
    global TOKENIZE_BINARY
    TOKENIZE_BINARY = request.config.getoption("--tokenize-binary")


ENV = dict(os.environ, HF_HUB_OFFLINE="1", SEQSERVE_VENV=sys.prefix, TRANSFORMERS_VERBOSITY="error")


def run_packer(*args, timeout=300):
    return subprocess.run([PACKER, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=timeout)


def snapshot(root, times=True):
    """Everything under `root`: names, modes, file bytes (and modification times when `times`);
    None when it does not exist."""
    if not os.path.lexists(root):
        return None
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        st = os.lstat(dirpath)
        state[os.path.relpath(dirpath, root) + "/"] = (st.st_mode, st.st_mtime_ns if times else None)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            with open(path, "rb") as f:
                state[os.path.relpath(path, root)] = (st.st_mode, st.st_mtime_ns if times else None, f.read())
    return state


def dot_entries(folder):
    return [e for e in os.listdir(folder) if e.startswith(".")] if os.path.isdir(folder) else []


def assert_refused(result, *fragments, code=2):
    err = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    errors = [line for line in err if line.startswith("seqserve-pack: error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _quiet_transformers():
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _minilm_tokenizer(dest):
    """Copies the all-MiniLM-L6-v2 tokenizer files into `dest`; False when it is not installed."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return False
    archive = os.path.join(list(spec.submodule_search_locations)[0], "model.zip")
    if not os.path.isfile(archive):
        return False
    with zipfile.ZipFile(archive) as z:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            with open(os.path.join(dest, name), "wb") as f:
                f.write(z.read(name))
    return True


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Tiny random checkpoints: {name: path}, plus "tokenizer": whether st_bert has a real one."""
    import torch
    t = _quiet_transformers()
    root = tmp_path_factory.mktemp("checkpoints")
    out = {}

    def save(name, model):
        path = str(root / name)
        model.eval().save_pretrained(path)
        out[name] = path
        return path

    # sentence-transformers layout: BERT (vocab of the MiniLM tokenizer), CLS pooling, Normalize, 32 tokens.
    torch.manual_seed(0)
    st = save("st_bert", t.BertModel(t.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2,
                                                  num_attention_heads=4, intermediate_size=128)))
    os.makedirs(os.path.join(st, "1_Pooling"))
    with open(os.path.join(st, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
    with open(os.path.join(st, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": True,
                   "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False}, f)
    with open(os.path.join(st, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 32, "do_lower_case": False}, f)
    out["tokenizer"] = _minilm_tokenizer(st)

    torch.manual_seed(1)
    save("distilbert", t.DistilBertModel(t.DistilBertConfig(vocab_size=500, dim=32, n_layers=1, n_heads=2,
                                                            hidden_dim=64, max_position_embeddings=64)))
    torch.manual_seed(2)
    save("roberta", t.RobertaModel(t.RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=64,
                                                   max_position_embeddings=514, pad_token_id=1,
                                                   type_vocab_size=1)))
    torch.manual_seed(3)
    save("gpt2", t.GPT2LMHeadModel(t.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=1, n_head=2)))
    no_weights = str(root / "bert_no_weights")
    t.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64).save_pretrained(no_weights)
    out["bert_no_weights"] = no_weights
    return out


@pytest.fixture
def repo(tmp_path):
    """A repository that already serves something, to prove it is left alone."""
    path = tmp_path / "repo"
    (path / "other" / "1").mkdir(parents=True)
    (path / "other" / "config.pbtxt").write_text('name: "other"\nmax_batch_size: 1\n')
    (path / "other" / "1" / "model.pt").write_bytes(b"not really a model")
    return str(path)


# ---------------------------------------------------------------------------------------------
# Refusals: one error line, exit 2, the repository byte-for-byte (and time-for-time) as before.


def test_unsupported_architecture(checkpoints, repo):
    before = snapshot(repo)
    r = run_packer("--hf", checkpoints["gpt2"], "--name", "gpt", "--repository", repo)
    assert_refused(r, "model_type 'gpt2'", "GPT2LMHeadModel", "bert, distilbert, electra, mpnet, roberta, xlm-roberta")
    assert snapshot(repo) == before


def test_tokenizer_seqserve_cannot_serve_is_refused_by_name(checkpoints, repo, tmp_path):
    """A tokenizer.json with a component seqserve's tokenizer does not implement is refused before
    export, naming the component; the repository is untouched."""
    if not checkpoints["tokenizer"]:
        pytest.skip("needs the all-MiniLM-L6-v2 tokenizer")
    hf = tmp_path / "st_bert_strip_accents"
    shutil.copytree(checkpoints["st_bert"], hf)
    tokenizer = json.loads((hf / "tokenizer.json").read_text())
    tokenizer["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]}
    (hf / "tokenizer.json").write_text(json.dumps(tokenizer))
    before = snapshot(repo)
    binary = os.path.join(ROOT, "build", "runtime", "tokenizer", "seqserve-tokenize")
    r = run_packer("--hf", hf, "--name", "m", "--repository", repo, "--tokenizer-binary", TOKENIZE_BINARY or binary)
    assert_refused(r, "seqserve cannot serve this tokenizer", "normalizer 'StripAccents'", "does not implement")
    assert snapshot(repo) == before


def test_directory_without_weights(checkpoints, repo):
    before = snapshot(repo)
    r = run_packer("--hf", checkpoints["bert_no_weights"], "--name", "m", "--repository", repo)
    assert_refused(r, "has no weights", "model.safetensors", "pytorch_model.bin")
    assert snapshot(repo) == before


def test_missing_and_invalid_config(tmp_path, repo):
    before = snapshot(repo)
    d = tmp_path / "hf"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"")
    assert_refused(run_packer("--hf", d, "--name", "m", "--repository", repo), "has no config.json")
    (d / "config.json").write_text("{not json")
    assert_refused(run_packer("--hf", d, "--name", "m", "--repository", repo), "config.json is not valid JSON")
    assert_refused(run_packer("--hf", tmp_path / "absent", "--name", "m", "--repository", repo), "no such directory")
    assert snapshot(repo) == before


def test_max_length_beyond_position_table(checkpoints, repo):
    before = snapshot(repo)
    # RoBERTa numbers positions from pad_token_id + 1: 514 positions hold 512 tokens.
    r = run_packer("--hf", checkpoints["roberta"], "--name", "r", "--repository", repo, "--max-length", 513)
    assert_refused(r, "--max-length 513", "max_position_embeddings 514", "at most 512 tokens")
    r = run_packer("--hf", checkpoints["distilbert"], "--name", "d", "--repository", repo, "--max-length", 65)
    assert_refused(r, "--max-length 65", "max_position_embeddings 64", "at most 64 tokens")
    assert snapshot(repo) == before


def test_existing_version_needs_force(checkpoints, repo):
    before = snapshot(repo)
    r = run_packer("--hf", checkpoints["distilbert"], "--name", "other", "--repository", repo)
    assert_refused(r, "other/1 already exists", "--force")
    assert snapshot(repo) == before


def test_bad_usage(checkpoints, repo):
    before = snapshot(repo)
    assert_refused(run_packer("--hf", checkpoints["distilbert"], "--name", ".hidden", "--repository", repo),
                   "is not a model name")
    assert_refused(run_packer("--hf", checkpoints["distilbert"], "--name", "m", "--repository", repo,
                              "--max-batch-size", 0), "must be at least 1")
    assert_refused(run_packer("--hf", checkpoints["distilbert"], "--name", "m", "--repository", repo,
                              "--task", "classification", "--pooling", "cls"), "--pooling and --normalize")
    assert_refused(run_packer("--hf", checkpoints["distilbert"], "--name", "m", "--repository", repo,
                              "--task", "rerank", "--matryoshka-dimensions", "16"),
                   "--matryoshka-dimensions applies to --task embedding")
    assert_refused(run_packer("--hf", checkpoints["distilbert"], "--name", "m", "--repository", repo,
                              "--matryoshka-dimensions", "16,half"), "give widths as integers")
    assert_refused(run_packer("--name", "m"), "required")
    assert snapshot(repo) == before


def test_classification_needs_a_trained_head(checkpoints, repo):
    before = snapshot(repo)
    r = run_packer("--hf", checkpoints["distilbert"], "--name", "c", "--repository", repo, "--task", "classification")
    assert_refused(r, "no trained sequence-classification head")
    assert snapshot(repo) == before


def test_rerank_needs_a_cross_encoder(tmp_path, repo):
    """--task rerank packs a sequence-classification head with one label (a relevance logit)."""
    import torch
    t = _quiet_transformers()
    torch.manual_seed(4)
    hf = str(tmp_path / "two_labels")
    t.BertForSequenceClassification(t.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=64,
                                                 num_labels=2)).eval().save_pretrained(hf)
    before = snapshot(repo)
    r = run_packer("--hf", hf, "--name", "r", "--repository", repo, "--task", "rerank")
    assert_refused(r, "has 2 labels; --task rerank needs a cross-encoder with one", "--task classification")
    assert snapshot(repo) == before


def test_help_imports_no_torch():
    code = ("import sys; sys.path.insert(0, %r); from seqpack.cli import build_parser; import seqpack.pack; "
            "build_parser().format_help(); assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
            % SCRIPTS)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    r = subprocess.run([PACKER, "--help"], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--hf DIR" in r.stdout and "--format {torchscript,pt2}" in r.stdout


# ---------------------------------------------------------------------------------------------
# Failures after the staging folder exists: it is removed, the repository is as before.


def _in_process(monkeypatch, argv):
    monkeypatch.syspath_prepend(SCRIPTS)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from seqpack.cli import main
    return main([str(a) for a in argv])


def test_failed_check_leaves_no_trace(checkpoints, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(SCRIPTS)
    from seqpack import errors, export

    def failing_check(*args, **kwargs):
        assert len(dot_entries(tmp_path)) == 1  # the staging folder, beside the repository to be
        raise errors.ExportError("the exported model differs from eager by 1 (> 0.0001) at batch 1 x length 1")

    monkeypatch.setattr(export, "check", failing_check)
    missing_repo = tmp_path / "new" / "repo"  # neither it nor its parent exists
    rc = _in_process(monkeypatch, ["--hf", checkpoints["distilbert"], "--name", "d", "--repository", missing_repo,
                                   "--max-batch-size", 2])
    assert rc == 1
    assert "seqserve-pack: error: the exported model differs" in capsys.readouterr().err
    assert not os.path.exists(missing_repo)
    assert dot_entries(tmp_path) == [] and dot_entries(tmp_path / "new") == []


def test_interrupt_leaves_no_trace(checkpoints, repo, monkeypatch, capsys):
    monkeypatch.syspath_prepend(SCRIPTS)
    from seqpack import references

    def interrupted(*args, **kwargs):
        assert len(dot_entries(repo)) == 1  # the staging folder, inside the repository
        raise KeyboardInterrupt

    monkeypatch.setattr(references, "build", interrupted)
    before = snapshot(repo, times=False)
    rc = _in_process(monkeypatch, ["--hf", checkpoints["distilbert"], "--name", "d", "--repository", repo,
                                   "--max-batch-size", 2])
    assert rc == 130
    assert "seqserve-pack: error: interrupted" in capsys.readouterr().err
    assert snapshot(repo, times=False) == before
    assert dot_entries(repo) == []


# ---------------------------------------------------------------------------------------------
# Packing


INT64 = config_proto.messages()["seqserve.v1.TensorConfig"].DESCRIPTOR.fields_by_name[
    "data_type"].enum_type.values_by_name["INT64"].number
FP32 = config_proto.messages()["seqserve.v1.TensorConfig"].DESCRIPTOR.fields_by_name[
    "data_type"].enum_type.values_by_name["FP32"].number


def enum_name(message, field):
    """The name of an enum field's value, as config.pbtxt spells it."""
    return message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[getattr(message, field)].name


def _check_manifest_shapes(manifest, input_names, output_name, width, max_batch, max_length):
    refs = manifest["references"]
    assert 4 <= len(refs) <= 6
    singles = [r for r in refs if r["inputs"][0]["shape"][0] == 1]
    lengths = [r["inputs"][0]["shape"][1] for r in singles]
    assert len(set(lengths)) == len(lengths) >= 3 and max(lengths) == max_length and min(lengths) <= 3
    padded = [r for r in refs if r["inputs"][0]["shape"][0] > 1]
    assert len(padded) == 1
    for ref in refs:
        assert ref["text"]
        assert [t["name"] for t in ref["inputs"]] == input_names
        rows, length = ref["inputs"][0]["shape"]
        assert rows <= max_batch and 1 <= length <= max_length
        for t in ref["inputs"]:
            assert t["shape"] == [rows, length] and len(t["int64_data"]) == rows * length and "float_data" not in t
        [out] = ref["outputs"]
        assert out["name"] == output_name and out["shape"] == [rows, width]
        assert len(out["float_data"]) == rows * width and "int64_data" not in out
    mask = padded[0]["inputs"][1]["int64_data"]
    assert 0 in mask and 1 in mask
    return refs


def _tensors(ref):
    import torch
    return [torch.tensor(t["int64_data"], dtype=torch.int64).reshape(t["shape"]) for t in ref["inputs"]]


def test_pack_sentence_transformers_bert(checkpoints, tmp_path):
    import numpy as np
    import torch
    import transformers
    repo = tmp_path / "repo"  # does not exist yet: created by the final rename
    hf = checkpoints["st_bert"]
    r = run_packer("--hf", hf, "--name", "tiny", "--repository", repo, "--max-batch-size", 4)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(repo)) == ["tiny"] and dot_entries(tmp_path) == []
    assert sorted(os.listdir(repo / "tiny")) == ["1", "config.pbtxt"]
    packed_files = ["model.pt", "seqserve-model.json"] + (["tokenizer.json"] if checkpoints["tokenizer"] else [])
    assert sorted(os.listdir(repo / "tiny" / "1")) == packed_files

    config = (repo / "tiny" / "config.pbtxt").read_text()
    assert config.startswith("# Packed by scripts/seqserve-pack from " + hf)
    body = [l for l in config.splitlines() if not l.startswith("#")]
    assert body[:4] == ['name: "tiny"', 'platform: "pytorch_libtorch"', 'default_model_filename: "model.pt"',
                        "max_batch_size: 4"]
    parsed = text_format.Parse(config, config_proto.model_config())  # the schema the server parses
    assert [(t.name, t.data_type, list(t.dims), t.pad_value, t.valid_range.begin, t.valid_range.end)
            for t in parsed.input] == [("input_ids", INT64, [-1], 0, 0, 30522), ("attention_mask", INT64, [-1], 0, 0, 2),
                                       ("token_type_ids", INT64, [-1], 0, 0, 2)]
    assert [(t.name, t.data_type, list(t.dims), t.HasField("reference_tolerance")) for t in parsed.output] == [
        ("embedding", FP32, [64], False)]
    assert (parsed.sequence.axis, parsed.sequence.max_length) == (0, 32)
    assert enum_name(parsed.batching, "mode") == "LENGTH_BUCKETED"
    assert enum_name(parsed.instance, "device") == "CPU" and parsed.instance.intra_op_threads == 0
    assert not parsed.HasField("optimization")

    text = (repo / "tiny" / "1" / "seqserve-model.json").read_text()
    assert len(text) < 1_000_000
    manifest = json.loads(text)
    model_file = repo / "tiny" / "1" / "model.pt"
    assert manifest["manifest_version"] == 1 and manifest["format"] == "torchscript"
    assert manifest["model_file"] == "model.pt"
    assert manifest["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert manifest["pytorch_version"] == torch.__version__
    assert manifest["cuda_version"] == (torch.version.cuda or "")
    assert manifest["transformers_version"] == transformers.__version__
    assert (manifest["device"], manifest["dtype"]) == ("cpu", "fp32")
    assert manifest["batch"] == {"min": 1, "max": 4} and manifest["sequence"] == {"min": 1, "max": 32}
    assert "cpu_isa" not in manifest
    assert manifest["export_options"]["freezing"] == "true"
    assert all(isinstance(v, str) for v in manifest["export_options"].values())
    source = manifest["source"]
    assert {k: source[k] for k in ("architecture", "model_type", "task", "pooling", "normalize", "hf_dir")} == {
        "architecture": "BertModel", "model_type": "bert", "task": "embedding", "pooling": "cls",
        "normalize": "true", "hf_dir": "st_bert"}
    assert int(source["num_parameters"]) > 0
    refs = _check_manifest_shapes(manifest, ["input_ids", "attention_mask", "token_type_ids"], "embedding", 64, 4, 32)
    if checkpoints["tokenizer"]:
        assert refs[0]["text"] == "Hello" and refs[0]["inputs"][0]["int64_data"] == [101, 7592, 102]
    else:
        assert "pseudo-random" in refs[0]["text"]

    # field names exactly as the schema spells them
    parsed_manifest = json_format.Parse(text, config_proto.model_manifest())
    assert parsed_manifest.references[0].outputs[0].float_data[0] == refs[0]["outputs"][0]["float_data"][0]

    # The saved TorchScript against eager transformers + CLS + L2 on a padded batch, and against the
    # manifest's references (what the server checks at load).
    module = torch.jit.load(str(model_file))
    bert = transformers.AutoModel.from_pretrained(hf, attn_implementation="eager").eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0]])
    mask = (torch.arange(6) < torch.tensor([[6], [3]])).long()
    types = torch.zeros_like(ids)
    with torch.no_grad():
        want = torch.nn.functional.normalize(bert(input_ids=ids, attention_mask=mask,
                                                  token_type_ids=types).last_hidden_state[:, 0], dim=1)
        got = module(ids, mask, types)
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        for ref in refs:
            out = module(*_tensors(ref)).numpy().ravel()
            np.testing.assert_allclose(out, ref["outputs"][0]["float_data"], atol=1e-5, rtol=1e-4)


def test_force_replaces_a_version(checkpoints, repo):
    import torch
    import transformers
    stale = os.path.join(repo, "other", "1", "model.pt")
    r = run_packer("--hf", checkpoints["distilbert"], "--name", "other", "--repository", repo, "--force",
                   "--max-batch-size", 3)
    assert r.returncode == 0, r.stderr
    assert dot_entries(repo) == [] and sorted(os.listdir(repo)) == ["other"]
    assert sorted(os.listdir(os.path.join(repo, "other", "1"))) == ["model.pt", "seqserve-model.json"]
    with open(stale, "rb") as f:
        assert f.read() != b"not really a model"
    config = open(os.path.join(repo, "other", "config.pbtxt")).read()
    parsed = text_format.Parse(config, config_proto.model_config())
    assert parsed.name == "other" and [t.name for t in parsed.input] == ["input_ids", "attention_mask"]  # DistilBERT
    assert parsed.sequence.max_length == 64 and parsed.max_batch_size == 3
    manifest = json.load(open(os.path.join(repo, "other", "1", "seqserve-model.json")))
    assert manifest["source"]["pooling"] == "mean" and manifest["source"]["normalize"] == "false"
    refs = _check_manifest_shapes(manifest, ["input_ids", "attention_mask"], "embedding", 32, 3, 64)
    assert "pseudo-random" in refs[0]["text"]

    # Masked mean over a padded batch, computed here from the eager model.
    module = torch.jit.load(stale)
    model = transformers.AutoModel.from_pretrained(checkpoints["distilbert"], attn_implementation="eager").eval()
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        want = (hidden * m).sum(1) / m.sum(1)
        assert torch.allclose(module(ids, mask), want, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# --precision: all-MiniLM-L6-v2 from --checkpoints, short (64 tokens, batches of up to 8).

MINILM = "all-MiniLM-L6-v2"
SMALL = ("--max-length", 64, "--max-batch-size", 8)


@pytest.fixture(scope="session")
def minilm(request):
    path = os.path.join(request.config.getoption("--checkpoints"), MINILM)
    if not os.path.isfile(os.path.join(path, "model.safetensors")):
        pytest.skip(f"no {MINILM} checkpoint in --checkpoints")
    return path


def _config_tolerance(config, output_name):
    output = next(o for o in text_format.Parse(config, config_proto.model_config()).output if o.name == output_name)
    if not output.HasField("reference_tolerance"):
        return (1e-4, 1e-3)  # the server's default, runtime/base/tolerance.h
    return (output.reference_tolerance.atol, output.reference_tolerance.rtol)


def _check_references_reproduce(module, refs, tolerance):
    """The saved module re-run on every reference request, as the server checks at load."""
    import numpy as np
    import torch
    atol, rtol = tolerance
    with torch.no_grad():
        for ref in refs:
            out = module(*_tensors(ref))
            assert out.dtype == torch.float32
            assert list(out.shape) == ref["outputs"][0]["shape"]
            np.testing.assert_allclose(out.numpy().ravel(), ref["outputs"][0]["float_data"], atol=atol, rtol=rtol)


def _pack_minilm(minilm, repo, name, precision, *extra):
    r = run_packer("--hf", minilm, "--name", name, "--repository", repo, "--precision", precision, *SMALL, *extra)
    assert r.returncode == 0, r.stderr
    config = open(os.path.join(repo, name, "config.pbtxt")).read()
    text = open(os.path.join(repo, name, "1", "seqserve-model.json")).read()
    return r, config, text, json.loads(text)


def test_pack_minilm_bf16(minilm, tmp_path):
    import torch
    repo = str(tmp_path / "repo")
    r, config, text, manifest = _pack_minilm(minilm, repo, "minilm_bf16", "bf16")
    assert (manifest["precision"], manifest["dtype"]) == ("BF16", "bf16")
    parsed = text_format.Parse(config, config_proto.model_config())
    assert enum_name(parsed.optimization, "precision") == "BF16"
    assert [(o.name, o.data_type, list(o.dims)) for o in parsed.output] == [("embedding", FP32, [384])]
    assert _config_tolerance(config, "embedding") == (0.02, 0.02)
    assert all(t.data_type == INT64 for t in parsed.input)
    options = manifest["export_options"]
    assert float(options["check_atol"]) == float(options["check_rtol"]) == 1e-2
    min_cos, mean_cos = float(options["accuracy_vs_fp32_min_cosine"]), float(options["accuracy_vs_fp32_mean_cosine"])
    assert 0.999 < min_cos <= mean_cos <= 1.0
    assert "accuracy of bf16 vs the fp32 eager model" in r.stderr
    assert options["accuracy_vs_fp32_min_cosine"] in r.stderr
    refs = _check_manifest_shapes(manifest, ["input_ids", "attention_mask", "token_type_ids"], "embedding", 384, 8, 64)

    assert json_format.Parse(text, config_proto.model_manifest()).precision == "BF16"
    parsed = text_format.Parse(config, config_proto.model_config())
    assert enum_name(parsed.optimization, "precision") == "BF16"
    assert parsed.output[0].reference_tolerance.atol == pytest.approx(0.02)

    # Traced from the bf16 model: bf16 weights, and the attention mask filled with bf16's minimum
    # (transformers takes it from the model's dtype at trace time); outputs float32, matching the
    # references (eager bf16) within the tolerance config.pbtxt gives.
    module = torch.jit.load(os.path.join(repo, "minilm_bf16", "1", "model.pt"))
    dtypes = {n.t("value").dtype for n in module.graph.nodes()
              if n.kind() == "prim::Constant" and n.hasAttribute("value") and n.kindOf("value") == "t"}
    assert torch.bfloat16 in dtypes and torch.float32 not in dtypes
    assert repr(torch.finfo(torch.bfloat16).min) in module.code
    _check_references_reproduce(module, refs, _config_tolerance(config, "embedding"))

    # A version in another precision cannot share this config.pbtxt.
    before = snapshot(repo)
    r = run_packer("--hf", minilm, "--name", "minilm_bf16", "--repository", repo, "--version", 2, *SMALL)
    assert_refused(r, "minilm_bf16/1 is packed in BF16", "--precision bf16")
    assert snapshot(repo) == before


def test_int8_dynamic_is_torchscript_only(minilm, repo):
    before = snapshot(repo)
    r = run_packer("--hf", minilm, "--name", "q", "--repository", repo, "--precision", "int8_dynamic",
                   "--format", "pt2")
    assert_refused(r, "--precision int8_dynamic is TorchScript-only", "--format torchscript")
    assert snapshot(repo) == before
    assert_refused(run_packer("--hf", minilm, "--name", "q", "--repository", repo, "--precision", "int4"),
                   "--precision", "invalid choice")


def test_pack_minilm_int8_dynamic(minilm, tmp_path):
    import torch
    repo = str(tmp_path / "repo")
    r, config, _, manifest = _pack_minilm(minilm, repo, "minilm_int8", "int8_dynamic")
    assert (manifest["precision"], manifest["dtype"]) == ("INT8_DYNAMIC", "fp32")
    assert enum_name(text_format.Parse(config, config_proto.model_config()).optimization, "precision") == "INT8_DYNAMIC"
    options = manifest["export_options"]
    assert int(options["quantized_linear_modules"]) >= 6 * 6  # 6 layers of q, k, v, out, up, down (+ pooler)
    assert 0 < float(options["accuracy_vs_fp32_min_cosine"]) <= float(options["accuracy_vs_fp32_mean_cosine"]) <= 1
    atol, rtol = _config_tolerance(config, "embedding")
    assert atol >= 1e-3 and atol >= 10 * float(options["reference_rerun_max_abs_diff"]) and rtol > 0
    assert options["reference_tolerance"] == f"atol {atol!r} rtol {rtol!r}"

    module = torch.jit.load(os.path.join(repo, "minilm_int8", "1", "model.pt"))
    assert str(module.graph).count("quantized::linear_dynamic") >= 6 * 6
    assert "ops.quantized.linear_dynamic" in module.code
    refs = _check_manifest_shapes(manifest, ["input_ids", "attention_mask", "token_type_ids"], "embedding", 384, 8, 64)
    _check_references_reproduce(module, refs, (atol, rtol))
