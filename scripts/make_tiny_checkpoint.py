"""Write a tiny random I-FAS checkpoint folder (model, processor, tokenizer, remote code) offline in seconds.

    python scripts/make_tiny_checkpoint.py --out outputs/tiny-ifas [--tower dinov2|clip|siglip|vit]

Then: `AutoModel.from_pretrained("outputs/tiny-ifas", trust_remote_code=True)`.
"""

import argparse

from ifas.model_builders import TINY_TOWERS, save_checkpoint, tiny_ifas


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--tower", default="dinov2", choices=sorted(TINY_TOWERS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model, processor = tiny_ifas(args.tower, seed=args.seed)
    path = save_checkpoint(model, processor, args.out)
    print(f"wrote a tiny {args.tower} I-FAS checkpoint to {path}")
    return path


if __name__ == "__main__":
    main()
