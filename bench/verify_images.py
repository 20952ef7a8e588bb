"""Checks the images a `zbatch generate` run delivered, with the standard library only.

Every image the manifest lists as delivered must exist, match the manifest's sha256 and decode as
the requested size: PNGs are decoded completely (chunk CRCs, the zlib stream, the scanline count);
JPEGs and WebPs (the standard library has no decoder for them) by their markers and headers.

    python3 bench/verify_images.py OUT_DIR      # prints "VALID of DELIVERED" and each problem

Used by bench/fault_soak.sh and bench/crash_loop.sh.
"""
import hashlib
import json
import os
import struct
import sys
import zlib


def decode_png(data):
    """Decodes a PNG completely (chunk CRCs, zlib stream, scanline count): (width, height) or a reason."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None, "no PNG signature"
    pos, idat, width = 8, [], None
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if pos + 12 + length > len(data):
            return None, f"truncated {kind!r} chunk"
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return None, f"bad {kind!r} chunk"
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        return None, "no IEND"
    if width is None:
        return None, "no IHDR"
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if channels is None or (depth not in (8, 16) and colour != 3):
        return None, f"unsupported colour type {colour}/{depth}"
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        return None, f"zlib: {e}"
    row = (width * channels * depth + 7) // 8
    if len(raw) != height * (row + 1):
        return None, f"{len(raw)} bytes of scanlines for {width}x{height}"
    return (width, height), None

def decode_image(data):
    """PNG fully; JPEG and WebP by their headers (the standard library has no decoder for them)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return decode_png(data)
    if data[:3] == b"\xff\xd8\xff":
        if data[-2:] != b"\xff\xd9":
            return None, "JPEG without end marker"
        pos = 2
        while pos + 9 < len(data):
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
                return (width, height), None
            pos += 2 + length
        return None, "JPEG without a frame header"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if struct.unpack("<I", data[4:8])[0] + 8 != len(data):
            return None, "WebP with a wrong RIFF size"
        return None, "WebP (size not checked)"
    return None, f"not an image ({len(data)} bytes, starts {data[:8]!r})"

def verify(manifest, out_dir):
    """(valid, problems) over the manifest's delivered images; problems name the file."""
    valid, problems = 0, []
    for image in manifest.get("images", []):
        if image.get("status") != "delivered":
            continue
        path = os.path.join(out_dir, image.get("file") or "")
        try:
            data = open(path, "rb").read()
        except OSError:
            problems.append(f"{image['index']}: file {image.get('file')} missing")
            continue
        if hashlib.sha256(data).hexdigest() != image.get("sha256"):
            problems.append(f"{image['index']}: {image['file']}: sha256 differs from the manifest")
            continue
        size, why = decode_image(data)
        want = tuple(int(x) for x in image["size"].split("x"))
        if size is None and not why.startswith("WebP"):
            problems.append(f"{image['index']}: {image['file']}: {why}")
        elif size is not None and size != want:
            problems.append(f"{image['index']}: {image['file']}: {size[0]}x{size[1]}, asked {image['size']}")
        else:
            valid += 1
    return valid, problems



def stray_files(manifest, out_dir):
    """Files in out_dir that the manifest does not name (besides the journal and the manifest)."""
    named = {i.get("file") for i in manifest.get("images", [])} | {"journal.jsonl", "manifest.json"}
    return sorted(f for f in os.listdir(out_dir) if f not in named) if os.path.isdir(out_dir) else []


if __name__ == "__main__":
    out_dir = sys.argv[1]
    manifest = json.load(open(os.path.join(out_dir, "manifest.json")))
    valid, problems = verify(manifest, out_dir)
    print(f"{valid} of {manifest.get('delivered')} delivered images valid")
    for problem in problems:
        print(problem)
    for name in stray_files(manifest, out_dir):
        print(f"not in the manifest: {name}")
    sys.exit(0 if not problems else 1)
