"""The steps of one packing, in order: validate everything that can be validated cheaply, load,
export into a staging folder, check, compute references, write config and manifest, move in."""
import json
import os
import time

from seqpack import repository
from seqpack.cli import progress, step
from seqpack.source import read_source


def pack(args):
    start = time.monotonic()
    target = repository.Target(args.repository, args.name, args.version, args.force)
    source = read_source(args)
    target.check_siblings(args.format, source.max_batch_size, source.max_length)

    import torch
    from seqpack import export, references
    from seqpack.source import load_model
    from seqpack.wrappers import OUTPUT_NAMES, wrap

    auto = "AutoModelForSequenceClassification" if source.task == "classification" else "AutoModel"
    with step(f"loading {source.hf_dir} with transformers ({auto}, fp32, eager attention)"):
        loaded = load_model(source)
    eager = wrap(loaded, source)
    names = loaded.input_names
    output_name = OUTPUT_NAMES[source.task]
    max_batch, max_length = source.max_batch_size, source.max_length
    example = export.make_inputs(names, *export.example_shape(max_batch, max_length), loaded,
                                 torch.Generator().manual_seed(export.SEED))

    with repository.Staging(target) as stage:
        model_file = repository.MODEL_FILES[args.format]
        path = os.path.join(stage.version_dir, model_file)
        cpu_isa = ""
        if args.format == "torchscript":
            options = export.export_torchscript(eager, example, path)
        else:
            options, cpu_isa = export.export_pt2(eager, example, names, max_batch, max_length, path, args.threads)
        options["threads"] = str(args.threads) if args.threads else "default (config intra_op_threads 1)"
        exported = export.load_exported(args.format, path)
        shapes, worst = export.check(eager, exported, names, loaded, max_batch, max_length)
        del exported
        options["checked_shapes"] = ",".join(f"{b}x{l}" for b, l in shapes)
        options["checked_max_abs_diff"] = repr(worst)
        options["check_atol"] = repr(export.CHECK_ATOL)

        with step("computing reference outputs with eager PyTorch"):
            refs, tokenized = references.build(eager, source, loaded, names, output_name)
        output_width = refs[0]["outputs"][0]["shape"][1]
        target.check_siblings(args.format, max_batch, max_length, names, (output_name, [output_width]))

        with step(f"hashing {model_file}"):
            digest = repository.sha256_of(path)
        manifest = _manifest(args, source, loaded, model_file, digest, options, cpu_isa, refs, tokenized)
        stage.write(os.path.join(str(args.version), repository.MANIFEST_FILE), repository.render_manifest(manifest))

        ranges = [("input_ids", loaded.vocab_size), ("attention_mask", 2)]
        if "token_type_ids" in names:
            ranges.append(("token_type_ids", loaded.type_vocab_size))
        header = _config_header(args, source, loaded, model_file, output_width, shapes, worst, len(refs), cpu_isa)
        stage.write("config.pbtxt", repository.render_config(
            args.name, args.format, ranges, loaded.pad_token_id, output_name, output_width, max_batch, max_length,
            args.threads, header))
        stage.commit()
    size = os.path.getsize(os.path.join(target.version_dir, model_file))
    progress(f"packed {target.model_dir}: config.pbtxt, {args.version}/{model_file} ({size / 1e6:.1f} MB), "
             f"{args.version}/{repository.MANIFEST_FILE} in {time.monotonic() - start:.1f} s")


def _manifest(args, source, loaded, model_file, digest, options, cpu_isa, refs, tokenized):
    """ModelManifest (proto/seqserve/v1/model_manifest.proto) as a dict of its JSON field names."""
    import torch
    import transformers
    source_map = {
        "architecture": source.architecture, "model_type": source.model_type, "task": source.task,
        "pooling": source.pooling, "normalize": str(source.normalize).lower(),
        "hf_dir": os.path.basename(source.root_dir),
        "num_parameters": str(loaded.num_parameters),
        "sentence_transformers": str(source.sentence_transformers).lower(),
        "max_position_embeddings": str(source.config.max_position_embeddings),
        "tokenizer": "yes" if tokenized else "none (pseudo-random reference ids)",
    }
    if source.task == "classification":
        source_map["num_labels"] = str(len(loaded.labels))
        source_map["labels"] = json.dumps(loaded.labels)
    manifest = {
        "manifest_version": 1,
        "format": args.format,
        "model_file": model_file,
        "sha256": digest,
        "pytorch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "transformers_version": transformers.__version__,
        "device": "cpu",
        "dtype": "fp32",
        "export_options": options,
        "source": source_map,
        "batch": {"min": 1, "max": source.max_batch_size},
        "sequence": {"min": 1, "max": source.max_length},
    }
    if cpu_isa:
        manifest["cpu_isa"] = cpu_isa
        from seqpack.export import cpu_instruction_flags
        manifest["cpu_flags"] = cpu_instruction_flags()
    manifest["references"] = refs
    return manifest


def _config_header(args, source, loaded, model_file, output_width, shapes, worst, num_refs, cpu_isa):
    """The comment lines at the top of config.pbtxt: what was packed, from where, and how."""
    import torch
    import transformers
    if args.format == "torchscript":
        how = "torch.jit.trace + torch.jit.freeze"
    else:
        how = "torch.export + AOTInductor, freezing" + (f", cpp.threads {args.threads}" if args.threads else "")
    if source.task == "embedding":
        what = (f"{'masked mean' if source.pooling == 'mean' else 'first-token (CLS)'} pooling of the last "
                f"hidden state{', L2-normalized' if source.normalize else ''} -> embedding [B, {output_width}]")
    else:
        what = f"{source.architecture} logits -> logits [B, {output_width}] (labels {', '.join(loaded.labels)})"
    return [
        f"Packed by scripts/seqserve-pack from {source.root_dir}",
        f"  {source.architecture} (model_type {source.model_type}), {loaded.num_parameters:,} parameters"
        + (", sentence-transformers" if source.sentence_transformers else ""),
        f"as {args.format} ({how}) with torch {torch.__version__}, transformers {transformers.__version__};",
        f"  version {args.version}: {args.version}/{model_file}, checked against eager at batch x length "
        f"{', '.join(f'{b}x{l}' for b, l in shapes)} (max abs diff {worst:.3g});",
        f"  {num_refs} reference requests in {args.version}/{repository.MANIFEST_FILE}"
        + (f"; kernels compiled for CPU ISA {cpu_isa}." if cpu_isa else "."),
        f"Task {source.task}: {what}.",
        "Settings:",
        *[f"  {setting}" for setting in source.settings],
        "Inputs are in the order forward() takes them: the server passes them positionally.",
    ]
