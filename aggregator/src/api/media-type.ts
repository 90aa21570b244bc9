/** The media type of a Content-Type header: lowercased, parameters dropped; '' when there is none. */
export function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}
