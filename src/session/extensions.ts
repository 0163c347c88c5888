/** BEP 10 extensions as the session speaks them: our local message ids, and BEP 9's rule. */
import { decodeMetadataMessage, UnknownMetadataMessageError, type MetadataMessage } from '../wire/index.js';

/** Our ids for the extensions we speak, sent in our BEP 10 handshake's `m`. */
export const UT_METADATA_ID = 1;
export const UT_PEX_ID = 2;

/** BEP 9: a message type we do not know "MUST be ignored" (null); other garbage still throws. */
export function decodeMetadataMessageOrSkip(payload: Buffer): MetadataMessage | null {
  try {
    return decodeMetadataMessage(payload);
  } catch (e) {
    if (e instanceof UnknownMetadataMessageError) return null;
    throw e;
  }
}
