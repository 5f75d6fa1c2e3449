/** `bucky zone show`: the zone's signed documents, decoded, after they verified. */
import { decodeJws, type JwsHeader } from "../../protocol/jws.ts";
import type { Log } from "../log.ts";
import { openCheckedZone } from "./checked-zone.ts";

export interface DescribedDocument {
  readonly id: string;
  readonly name: string;
  readonly issuedAt: string;
  readonly header: JwsHeader;
  readonly payload: unknown;
  /** Always true: a document that does not verify is an error, never shown. */
  readonly signatureVerified: true;
  readonly jws: string;
}

export interface ZoneDescription {
  readonly zone: DescribedDocument;
  readonly devices: readonly DescribedDocument[];
}

export function describeZone(home: string, log: Log): ZoneDescription {
  const zone = openCheckedZone(home, log);
  try {
    return { zone: describe(zone.zone), devices: zone.devices.map(describe) };
  } finally {
    zone.close();
  }
}

function describe(doc: {
  id: string;
  name: string;
  issuedAt: number;
  jws: string;
}): DescribedDocument {
  const decoded = decodeJws(doc.jws);
  return {
    id: doc.id,
    name: doc.name,
    issuedAt: new Date(doc.issuedAt * 1000).toISOString(),
    header: decoded.header,
    payload: decoded.payload,
    signatureVerified: true,
    jws: doc.jws,
  };
}
