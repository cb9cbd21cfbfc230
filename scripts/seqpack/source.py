"""The Hugging Face checkpoint directory: what it is, and what the packed model will take and give.

`read_source` validates the directory and the flags from files alone (config.json, weights,
sentence-transformers files); `load_model` then loads it with transformers (fp32, CPU, eager
attention, so tracing and export see plain tensor ops) and inspects the loaded model.
"""
import dataclasses
import inspect
import json
import os

from seqpack.errors import UsageError
from seqpack.progress import progress

# model_type -> how far the position table's usable length is below max_position_embeddings.
# RoBERTa-style models number positions from padding_idx + 1 (MPNet's padding_idx is fixed at 1).
# Each family here was packed in both formats and checked against eager (see tests/python).
SUPPORTED_FAMILIES = {
    "bert": lambda config: 0,
    "distilbert": lambda config: 0,
    "electra": lambda config: 0,
    "roberta": lambda config: (config.pad_token_id or 0) + 1,
    "xlm-roberta": lambda config: (config.pad_token_id or 0) + 1,
    "mpnet": lambda config: 2,
}
DEFAULT_LENGTH_CAP = 512
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")


@dataclasses.dataclass
class Source:
    hf_dir: str                     # the directory holding config.json and the weights
    root_dir: str                   # what --hf named (differs for a sentence-transformers 0_Transformer/)
    model_type: str
    architecture: str
    task: str
    pooling: str                    # "mean" | "cls" ("none" for classification)
    normalize: bool
    max_length: int
    usable_length: int              # positions the model's table allows
    max_batch_size: int
    sentence_transformers: bool
    settings: list                  # where task/pooling/normalize/length came from, for the config header
    prompts: dict                   # embedding: sentence-transformers' named prompts
    default_prompt_name: str        # "" for none
    matryoshka_dimensions: list     # embedding: widths clients may truncate to, widest first
    tokenizer_dir: str              # "" when the directory has no tokenizer
    config: object = None           # transformers config


@dataclasses.dataclass
class Loaded:
    model: object                   # the transformers nn.Module, eval(), fp32, CPU
    input_names: list               # in config (and forward) order
    vocab_size: int
    type_vocab_size: int            # 0 when the model takes no token_type_ids
    pad_token_id: int
    num_parameters: int
    labels: list                    # classification: label names by index


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{os.path.dirname(path) or '.'} has no {os.path.basename(path)} ({what})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def _check_weights(hf_dir):
    for name in WEIGHT_FILES:
        if os.path.isfile(os.path.join(hf_dir, name)):
            return name
        index = os.path.join(hf_dir, name + ".index.json")
        if os.path.isfile(index):
            shards = sorted(set(_read_json(index, "sharded weights index").get("weight_map", {}).values()))
            if not shards:
                raise UsageError(f"{index} lists no weight files")
            missing = [s for s in shards if not os.path.isfile(os.path.join(hf_dir, s))]
            if missing:
                raise UsageError(f"{index} names shards that are not there: {', '.join(missing[:3])}")
            return f"{name} in {len(shards)} shards"
    raise UsageError(f"{hf_dir} has no weights: none of {', '.join(WEIGHT_FILES)} or a sharded "
                     f"{WEIGHT_FILES[0]}.index.json")


def _sentence_transformers(root, args):
    """Transformer folder, pooling, normalize and max_seq_length from a sentence-transformers
    directory; flags given on the command line win."""
    modules = _read_json(os.path.join(root, "modules.json"), "sentence-transformers modules")
    if not isinstance(modules, list):
        raise UsageError(f"{root}/modules.json is not a list of modules")
    transformer_dir, pooling, normalize = None, None, False
    for m in modules:
        kind = str(m.get("type", ""))
        path = os.path.join(root, str(m.get("path", "")))
        short = kind.rsplit(".", 1)[-1]
        if short == "Transformer":
            transformer_dir = path
        elif short == "Pooling":
            if args.pooling is None:
                pooling = _st_pooling(os.path.join(path, "config.json"))
        elif short == "Normalize":
            normalize = True
        else:
            raise UsageError(f"{root}/modules.json has module '{m.get('name', '?')}' ({kind}), which "
                             f"seqserve-pack cannot pack (it packs Transformer, Pooling and Normalize)")
    if transformer_dir is None:
        raise UsageError(f"{root}/modules.json has no sentence_transformers Transformer module")
    max_seq = None
    for folder in (transformer_dir, root):
        p = os.path.join(folder, "sentence_bert_config.json")
        if os.path.isfile(p):
            max_seq = _read_json(p, "sentence-transformers settings").get("max_seq_length")
            break
    return os.path.normpath(transformer_dir), pooling, normalize, max_seq


def _st_prompts(root):
    """Named prompts, the default prompt's name and Matryoshka widths from a sentence-transformers
    directory's config_sentence_transformers.json (absent fields: none)."""
    path = os.path.join(root, "config_sentence_transformers.json")
    if not os.path.isfile(path):
        return {}, "", []
    config = _read_json(path, "sentence-transformers configuration")
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise UsageError(f"{path}: `prompts` must map names to strings")
    default = config.get("default_prompt_name") or ""
    if default and default not in prompts:
        raise UsageError(f"{path}: default_prompt_name '{default}' is not one of its prompts")
    dims = config.get("matryoshka_dimensions") or []
    return {str(k): v for k, v in prompts.items()}, str(default), dims


def _matryoshka(arg, from_config, settings):
    """The Matryoshka widths: --matryoshka-dimensions, else the sentence-transformers config's."""
    raw = arg if arg else from_config
    if not raw:
        return []
    if isinstance(raw, str):
        try:
            dims = [int(d) for d in raw.split(",") if d.strip()]
        except ValueError:
            raise UsageError(f"--matryoshka-dimensions {raw}: give widths as integers, e.g. 384,256,128") from None
    else:
        dims = raw
    if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
        raise UsageError(f"Matryoshka dimensions {raw!r} must be positive integers")
    settings.append(f"Matryoshka dimensions {','.join(map(str, dims))} from "
                    f"{'--matryoshka-dimensions' if arg else 'config_sentence_transformers.json'}")
    return sorted(set(dims), reverse=True)


def _st_pooling(path):
    config = _read_json(path, "sentence-transformers pooling")
    if isinstance(config.get("pooling_mode"), str):
        modes = [config["pooling_mode"]]
    else:
        modes = [k[len("pooling_mode_"):] for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
    names = {"mean_tokens": "mean", "mean": "mean", "cls_token": "cls", "cls": "cls"}
    if len(modes) != 1 or modes[0] not in names:
        raise UsageError(f"{path} asks for pooling {'+'.join(modes) or 'none'}; seqserve-pack packs mean or cls "
                         f"pooling (pass --pooling to choose one)")
    return names[modes[0]]


def read_source(args):
    """Validates --hf and the flags that depend on it. UsageError on anything it cannot pack."""
    root = os.path.abspath(args.hf)
    if not os.path.isdir(root):
        raise UsageError(f"--hf {args.hf}: no such directory")
    settings = []
    st = os.path.isfile(os.path.join(root, "modules.json"))
    hf_dir, st_pooling, st_normalize, st_max = root, None, False, None
    prompts, default_prompt, st_dims = {}, "", []
    if st:
        hf_dir, st_pooling, st_normalize, st_max = _sentence_transformers(root, args)
        prompts, default_prompt, st_dims = _st_prompts(root)

    raw = _read_json(os.path.join(hf_dir, "config.json"), "the model's configuration")
    if not isinstance(raw, dict):
        raise UsageError(f"{hf_dir}/config.json is not a JSON object")
    model_type = raw.get("model_type")
    architectures = raw.get("architectures") or []
    architecture = architectures[0] if architectures else ""
    supported = ", ".join(sorted(SUPPORTED_FAMILIES))
    if not model_type:
        raise UsageError(f"{hf_dir}/config.json has no model_type (architecture {architecture or 'unknown'}); "
                         f"supported: {supported}")
    if model_type not in SUPPORTED_FAMILIES:
        raise UsageError(f"model_type '{model_type}' (architecture {architecture or 'unknown'}) is not supported; "
                         f"seqserve-pack packs encoder-only models: {supported}")
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise UsageError(f"{hf_dir}/config.json configures {model_type} as a decoder (is_decoder / "
                         f"add_cross_attention); seqserve-pack packs encoders")
    weights = _check_weights(hf_dir)

    task = args.task or "embedding"
    if args.task:
        settings.append(f"task {task} from --task")
    else:
        settings.append("task embedding (default)")
        if architecture.endswith("ForSequenceClassification"):
            progress(f"note: {architecture} has a classification head; packing its encoder as an embedding "
                     f"model (pass --task classification for its logits)")
    if task != "embedding":
        if args.pooling is not None or args.normalize is not None:
            raise UsageError(f"--pooling and --normalize apply to --task embedding; a {task} model's head does its "
                             "own pooling")
        if getattr(args, "matryoshka_dimensions", None):
            raise UsageError("--matryoshka-dimensions applies to --task embedding")
        pooling, normalize = "none", False
    else:
        if args.pooling is not None:
            pooling = args.pooling
            settings.append(f"pooling {pooling} from --pooling")
        elif st_pooling is not None:
            pooling = st_pooling
            settings.append(f"pooling {pooling} from sentence-transformers Pooling")
        else:
            pooling = "mean"
            settings.append("pooling mean (default)")
        if args.normalize is not None:
            normalize = args.normalize
            settings.append(f"normalize {str(normalize).lower()} from --{'' if normalize else 'no-'}normalize")
        elif st:
            normalize = st_normalize
            settings.append(f"normalize {str(normalize).lower()} from sentence-transformers modules.json")
        else:
            normalize = False
            settings.append("normalize false (default)")

    dims = _matryoshka(getattr(args, "matryoshka_dimensions", None), st_dims, settings) if task == "embedding" else []
    if task != "embedding":
        prompts, default_prompt = {}, ""
    config = _load_config(hf_dir)
    table = getattr(config, "max_position_embeddings", None)
    if not isinstance(table, int) or table < 1:
        raise UsageError(f"{hf_dir}/config.json has no max_position_embeddings")
    offset = SUPPORTED_FAMILIES[model_type](config)
    usable = table - offset
    how = (f"max_position_embeddings {table}" if offset == 0 else
           f"max_position_embeddings {table} minus {model_type}'s position offset {offset}")
    if args.max_length is not None:
        if args.max_length > usable:
            raise UsageError(f"--max-length {args.max_length} is beyond the position table of {hf_dir}: {how} "
                             f"allows at most {usable} tokens")
        max_length = args.max_length
        settings.append(f"max length {max_length} from --max-length")
    elif isinstance(st_max, int) and st_max > 0:
        max_length = min(st_max, usable)
        settings.append(f"max length {max_length} from sentence-transformers max_seq_length"
                        + ("" if st_max <= usable else f" {st_max}, capped by the position table"))
    else:
        max_length = min(usable, DEFAULT_LENGTH_CAP)
        settings.append(f"max length {max_length} (default: {how}, at most {DEFAULT_LENGTH_CAP})")

    tokenizer_dir = ""
    for folder in (hf_dir, root):
        if any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES):
            tokenizer_dir = folder
            break
    progress(f"{root}: {architecture or model_type} ({model_type}), weights {weights}"
             + (", sentence-transformers" if st else "") + f"; {'; '.join(settings)}")
    return Source(hf_dir=hf_dir, root_dir=root, model_type=model_type, architecture=architecture or model_type,
                  task=task, pooling=pooling, normalize=normalize, max_length=max_length, usable_length=usable,
                  max_batch_size=args.max_batch_size, sentence_transformers=st, settings=settings,
                  prompts=prompts, default_prompt_name=default_prompt, matryoshka_dimensions=dims,
                  tokenizer_dir=tokenizer_dir, config=config)


def _load_config(hf_dir):
    from transformers import AutoConfig
    try:
        return AutoConfig.from_pretrained(hf_dir)
    except Exception as e:  # transformers raises ValueError / OSError / KeyError for bad configs
        raise UsageError(f"transformers cannot read {hf_dir}/config.json: {_first_line(e)}") from e


def _first_line(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def load_model(source):
    """Loads the checkpoint for source.task; UsageError when its weights do not fit the task."""
    import torch
    import transformers
    from transformers import AutoModel, AutoModelForSequenceClassification
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    cls = AutoModel if source.task == "embedding" else AutoModelForSequenceClassification
    try:
        model, info = cls.from_pretrained(source.hf_dir, attn_implementation="eager", dtype=torch.float32,
                                          output_loading_info=True)
    except Exception as e:
        raise UsageError(f"transformers cannot load {source.hf_dir} as {cls.__name__}: {_first_line(e)}") from e
    missing = list(info.get("missing_keys") or [])
    if source.task == "embedding":
        missing = [k for k in missing if not k.startswith("pooler.")]  # BERT's pooler is not used
    if missing:
        if source.task != "embedding":
            raise UsageError(f"{source.hf_dir} ({source.architecture}) has no trained sequence-classification "
                             f"head: {len(missing)} weights would be random ({', '.join(missing[:3])}); "
                             f"--task {source.task} needs a *ForSequenceClassification checkpoint")
        raise UsageError(f"{source.hf_dir} lacks {len(missing)} of {type(model).__name__}'s weights "
                         f"({', '.join(missing[:3])})")
    model = model.to(device="cpu", dtype=torch.float32).eval()
    params = inspect.signature(model.forward).parameters
    names = [n for n in INPUT_ORDER if n in params]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise UsageError(f"{type(model).__name__}.forward does not take input_ids and attention_mask")
    config = model.config
    type_vocab = 0
    if "token_type_ids" in names:
        type_vocab = int(getattr(config, "type_vocab_size", 0) or 0)
        if type_vocab < 1:
            raise UsageError(f"{type(model).__name__} takes token_type_ids but its config has no type_vocab_size")
    labels = []
    if source.task != "embedding":
        id2label = getattr(config, "id2label", None) or {}
        labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(config.num_labels)]
        if source.task == "rerank" and len(labels) != 1:
            raise UsageError(f"{source.hf_dir} has {len(labels)} labels; --task rerank needs a cross-encoder with "
                             f"one (a relevance logit); pack it with --task classification")
    return Loaded(model=model, input_names=names, vocab_size=int(model.get_input_embeddings().num_embeddings),
                  type_vocab_size=type_vocab, pad_token_id=int(getattr(config, "pad_token_id", None) or 0),
                  num_parameters=sum(p.numel() for p in model.parameters()), labels=labels)
