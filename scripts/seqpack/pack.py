"""The steps of one packing, in order: validate everything that can be validated cheaply, load,
export into a staging folder, check, compute references, write config and manifest, move in."""
import json
import os
import time

from seqpack import repository
from seqpack.progress import progress, step
from seqpack.source import read_source


def pack(args):
    start = time.monotonic()
    from seqpack.precision import CONFIG_NAMES, check_format
    check_format(args.precision, args.format)
    precision_name = CONFIG_NAMES[args.precision]
    target = repository.Target(args.repository, args.name, args.version, args.force)
    source = read_source(args)
    target.check_siblings(args.format, source.max_batch_size, source.max_length, precision=precision_name)

    from seqpack import tokenizer
    packed_tokenizer = tokenizer.prepare(source, source.max_length, tokenizer.find_binary(args.tokenizer_binary))

    import torch
    from seqpack import export, precision, references
    from seqpack.source import load_model
    from seqpack.wrappers import OUTPUT_NAMES, wrap

    auto = "AutoModel" if source.task == "embedding" else "AutoModelForSequenceClassification"
    with step(f"loading {source.hf_dir} with transformers ({auto}, fp32, eager attention)"):
        loaded = load_model(source)
    fp32_eager = wrap(loaded, source)
    if args.precision == "fp32":
        eager, precision_options = fp32_eager, {}
    else:
        precision.note_cpu(args.precision)
        how = ("quantizing nn.Linear to int8 (torch.ao dynamic quantization)" if args.precision == "int8_dynamic"
               else f"casting the model to {args.precision}")
        with step(how):
            eager, precision_options = precision.at_precision(fp32_eager, args.precision)
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
            # A .pt2's kernels run the thread count compiled into them: one by default, so that
            # the server's instances (one per core) are what spreads the work.
            options, cpu_isa = export.export_pt2(eager, example, names, max_batch, max_length, path, args.threads or 1)
        options.update(precision_options)
        options["threads"] = str(args.threads) if args.threads else "default (the server's instance layout)"
        exported = export.load_exported(args.format, path)
        tolerance = precision.CHECK_TOLERANCES[args.precision]
        what = "eager" if args.precision == "fp32" else f"eager {args.precision}"
        shapes, worst = export.check(eager, exported, names, loaded, max_batch, max_length, tolerance, what)
        options["checked_shapes"] = ",".join(f"{b}x{l}" for b, l in shapes)
        options["checked_max_abs_diff"] = repr(worst)
        options["check_atol"] = repr(tolerance[0])
        if tolerance[1]:
            options["check_rtol"] = repr(tolerance[1])

        with step(f"computing reference outputs with {what} PyTorch"):
            refs, tokenized = references.build(eager, source, loaded, names, output_name)
        output_width = refs[0]["outputs"][0]["shape"][1]
        target.check_siblings(args.format, max_batch, max_length, names, (output_name, [output_width]),
                              precision=precision_name)
        with step("re-running the saved model on the references"):
            rerun, accuracy, pairs = precision.measure(exported, fp32_eager, refs, source.task, args.precision)
        del exported
        options.update(accuracy)
        output_tolerance = precision.reference_tolerance(args.precision, max(rerun, worst))
        precision.check_references(pairs, output_tolerance)
        if output_tolerance is not None:
            options["reference_tolerance"] = f"atol {output_tolerance[0]!r} rtol {output_tolerance[1]!r}"

        with step(f"hashing {model_file}"):
            digest = repository.sha256_of(path)
        manifest = _manifest(args, source, loaded, model_file, digest, options, cpu_isa, refs, tokenized)
        if packed_tokenizer:
            packed_tokenizer.write(stage.version_dir)
            manifest["tokenizer"] = packed_tokenizer.manifest
        stage.write(os.path.join(str(args.version), repository.MANIFEST_FILE), repository.render_manifest(manifest))

        ranges = [("input_ids", loaded.vocab_size), ("attention_mask", 2)]
        if "token_type_ids" in names:
            ranges.append(("token_type_ids", loaded.type_vocab_size))
        header = _config_header(args, source, loaded, model_file, output_width, shapes, worst, len(refs), cpu_isa,
                                accuracy, output_tolerance)
        spec = repository.ConfigSpec(
            name=args.name, fmt=args.format, inputs=ranges, pad_token_id=loaded.pad_token_id,
            output_name=output_name, output_width=output_width, max_batch=max_batch, max_length=max_length,
            threads=args.threads or (1 if args.format == "pt2" else None), precision=precision_name,
            output_tolerance=output_tolerance)
        stage.write("config.pbtxt", repository.render_config(spec, header))
        stage.commit()
    size = os.path.getsize(os.path.join(target.version_dir, model_file))
    progress(f"packed {target.model_dir}: config.pbtxt, {args.version}/{model_file} ({size / 1e6:.1f} MB), "
             f"{args.version}/{repository.MANIFEST_FILE} in {time.monotonic() - start:.1f} s")


def _manifest(args, source, loaded, model_file, digest, options, cpu_isa, refs, tokenized):
    """ModelManifest (proto/seqserve/v1/model_manifest.proto) as a dict of its JSON field names."""
    import torch
    import transformers
    from seqpack.precision import CONFIG_NAMES, WEIGHT_DTYPES
    source_map = {
        "architecture": source.architecture, "model_type": source.model_type, "task": source.task,
        "pooling": source.pooling, "normalize": str(source.normalize).lower(),
        "hf_dir": os.path.basename(source.root_dir),
        "num_parameters": str(loaded.num_parameters),
        "sentence_transformers": str(source.sentence_transformers).lower(),
        "max_position_embeddings": str(source.config.max_position_embeddings),
        "tokenizer": "yes" if tokenized else "none (pseudo-random reference ids)",
    }
    if source.task != "embedding":
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
        "dtype": WEIGHT_DTYPES[args.precision],
        "precision": CONFIG_NAMES[args.precision],
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
    manifest["task"] = _task(source, loaded)
    return manifest


def _task(source, loaded):
    """TaskManifest: what the text APIs need to serve this model."""
    from seqpack.wrappers import OUTPUT_NAMES
    task = {"task": source.task, "output": OUTPUT_NAMES[source.task]}
    if source.task == "embedding":
        task.update(pooling=source.pooling, normalized=source.normalize)
        if source.prompts:
            task["prompts"] = source.prompts
        if source.default_prompt_name:
            task["default_prompt_name"] = source.default_prompt_name
        if source.matryoshka_dimensions:
            if source.matryoshka_dimensions[0] > loaded.model.config.hidden_size:
                from seqpack.errors import UsageError
                raise UsageError(f"Matryoshka dimension {source.matryoshka_dimensions[0]} is wider than the "
                                 f"embedding ({loaded.model.config.hidden_size})")
            task["matryoshka_dimensions"] = source.matryoshka_dimensions
    else:
        task["labels"] = loaded.labels
    return task


def _config_header(args, source, loaded, model_file, output_width, shapes, worst, num_refs, cpu_isa, accuracy,
                   output_tolerance):
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
    elif source.task == "rerank":
        what = f"{source.architecture} relevance logit of a (query, text) pair -> logits [B, 1]"
    else:
        what = f"{source.architecture} logits -> logits [B, {output_width}] (labels {', '.join(loaded.labels)})"
    precision_lines = []
    if args.precision != "fp32":
        computes = {"bf16": "weights and compute in bfloat16 (cast before export)",
                    "fp16": "weights and compute in float16 (cast before export)",
                    "int8_dynamic": "nn.Linear weights int8, activations quantized per call (torch.ao "
                                    "quantize_dynamic), the rest fp32"}[args.precision]
        if "accuracy_vs_fp32_min_cosine" in accuracy:
            vs = (f"cosine similarity min {accuracy['accuracy_vs_fp32_min_cosine']}, mean "
                  f"{accuracy['accuracy_vs_fp32_mean_cosine']}")
        else:
            vs = f"logits max abs error {accuracy['accuracy_vs_fp32_max_abs_error']}"
        precision_lines = [
            f"Precision {args.precision}: {computes}; outputs float32.",
            f"  Against the fp32 model on the {accuracy['accuracy_vs_fp32_rows']} reference rows: {vs};",
            f"  reference_tolerance atol {output_tolerance[0]:g} rtol {output_tolerance[1]:g}."]
    return [
        f"Packed by scripts/seqserve-pack from {source.root_dir}",
        f"  {source.architecture} (model_type {source.model_type}), {loaded.num_parameters:,} parameters"
        + (", sentence-transformers" if source.sentence_transformers else ""),
        f"as {args.format} ({how}) with torch {torch.__version__}, transformers {transformers.__version__};",
        f"  version {args.version}: {args.version}/{model_file}, checked against eager"
        f"{'' if args.precision == 'fp32' else ' ' + args.precision} at batch x length "
        f"{', '.join(f'{b}x{l}' for b, l in shapes)} (max abs diff {worst:.3g});",
        f"  {num_refs} reference requests in {args.version}/{repository.MANIFEST_FILE}"
        + (f"; kernels compiled for CPU ISA {cpu_isa}." if cpu_isa else "."),
        f"Task {source.task}: {what}.",
        *precision_lines,
        "Settings:",
        *[f"  {setting}" for setting in source.settings],
        "Inputs are in the order forward() takes them: the server passes them positionally.",
    ]
