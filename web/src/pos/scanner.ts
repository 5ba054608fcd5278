// Reads a member's payment code with the device camera: the browser's BarcodeDetector where it
// has one for QR codes, otherwise the vendored jsQR decoder on frames drawn into a canvas (desktop
// Linux Chromium has no BarcodeDetector).

import jsQR from "jsqr";

/** Which decoder reads the frames. */
export type DecoderName = "BarcodeDetector" | "jsQR";

interface Decoder {
  name: DecoderName;
  read(video: HTMLVideoElement): Promise<string | null>;
}

interface DetectedBarcode {
  rawValue: string;
}

interface BarcodeDetectorLike {
  detect(source: HTMLVideoElement): Promise<DetectedBarcode[]>;
}

interface BarcodeDetectorClass {
  new (options: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats?(): Promise<string[]>;
}

/** Frames are scaled down to at most this width before jsQR reads them. */
const MAX_FRAME_WIDTH = 640;
const FRAME_INTERVAL_MS = 150;

async function nativeDecoder(): Promise<Decoder | null> {
  const Detector = (window as unknown as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector;
  if (!Detector) return null;
  try {
    const formats = (await Detector.getSupportedFormats?.()) ?? [];
    if (!formats.includes("qr_code")) return null;
    const detector = new Detector({ formats: ["qr_code"] });
    return { name: "BarcodeDetector", read: async (video) => (await detector.detect(video))[0]?.rawValue ?? null };
  } catch {
    return null;
  }
}

function vendoredDecoder(): Decoder {
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return {
    name: "jsQR",
    read: async (video) => {
      if (!context || video.videoWidth === 0) return null;
      const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      return jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "attemptBoth" })?.data ?? null;
    },
  };
}

/** A running camera scan; `stop` releases the camera. */
export class Scanner {
  private stream: MediaStream | null = null;
  private timer: number | undefined;

  constructor(private readonly video: HTMLVideoElement) {}

  /** Opens the camera and calls `found` once with the first code read. Resolves with the decoder used. */
  async start(found: (text: string) => void): Promise<DecoderName> {
    const decoder = (await nativeDecoder()) ?? vendoredDecoder();
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } },
      audio: false,
    });
    this.video.srcObject = this.stream;
    await this.video.play();
    const scan = async (): Promise<void> => {
      if (!this.stream) return;
      const text = await decoder.read(this.video).catch(() => null);
      if (text && this.stream) {
        this.stop();
        found(text);
      } else if (this.stream) {
        this.timer = window.setTimeout(() => void scan(), FRAME_INTERVAL_MS);
      }
    };
    void scan();
    return decoder.name;
  }

  /** Stops scanning and turns the camera off. */
  stop(): void {
    window.clearTimeout(this.timer);
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.video.srcObject = null;
  }
}
