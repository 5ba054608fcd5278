"""A fake camera's video: a picture (the member page's QR code, as the browser drew it) centred
on a white frame, written as YUV4MPEG2 (4:2:0), which Chromium plays through
`--use-file-for-fake-video-capture` as if a camera saw it."""

import io
from pathlib import Path

from PIL import Image

WIDTH, HEIGHT = 640, 480
FRAMES = 10


def y4m_of(png: bytes, path: Path, size: int = 360) -> Path:
    """Writes `png`, scaled to `size` pixels square and centred on white, as a short y4m clip."""
    code = Image.open(io.BytesIO(png)).convert("L").resize((size, size), Image.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(code, ((WIDTH - size) // 2, (HEIGHT - size) // 2))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FRAMES):
            out.write(b"FRAME\n")
            out.write(planes)
    return path
