// Saving a file the app fetched itself (with the bearer token) as a browser download:
// an object URL on a temporary link, clicked once, the URL released afterwards.

export interface ObjectUrls {
  createObjectURL(blob: Blob): string;
  revokeObjectURL(url: string): void;
}

/** How long an object URL outlives its click: the browser reads the blob after the click returns. */
export const REVOKE_AFTER_MS = 10_000;

/** Offer ``blob`` as a download named ``filename``. */
export function saveBlob(blob: Blob, filename: string, doc: Document = document, urls: ObjectUrls = URL): void {
  const url = urls.createObjectURL(blob);
  const link = doc.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  link.style.display = "none";
  doc.body.appendChild(link);
  try {
    link.click();
  } finally {
    link.remove();
    setTimeout(() => urls.revokeObjectURL(url), REVOKE_AFTER_MS);
  }
}
