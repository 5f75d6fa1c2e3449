/** What a TLS server shows: for tests of which certificate a gateway serves for a name. */
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";

/** The certificate the server at `address:port` presents for `name` (SNI), unchecked. */
export function presented(address: string, port: number, name: string): Promise<X509Certificate> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: address, port, servername: name, rejectUnauthorized: false });
    socket.once("secureConnect", () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolvePromise(new X509Certificate(raw));
    });
    socket.once("error", reject);
  });
}
