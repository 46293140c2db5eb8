import { specGrpcMessage } from './grpc-message';
import type { HttpHandler } from './http-routes';

/** gRPC's UNIMPLEMENTED. */
const UNIMPLEMENTED = '12';

/**
 * In front of the HTTP fallback: a gRPC or gRPC-Web call of a method no service here has is
 * answered as gRPC says (a trailers-only response, grpc-status UNIMPLEMENTED naming the method),
 * not with the REST fallback's HTTP 404 body, which gRPC clients cannot read.
 */
export function grpcUnimplemented(next: HttpHandler): HttpHandler {
  return (req, res) => {
    const type = req.headers['content-type'];
    if (typeof type !== 'string' || !type.startsWith('application/grpc')) return next(req, res);
    const path = (req.url ?? '/').split('?')[0]!;
    const headers = {
      'content-type': type.startsWith('application/grpc-web') ? 'application/grpc-web+proto' : 'application/grpc',
      'grpc-status': UNIMPLEMENTED,
      'grpc-message': specGrpcMessage(`method ${path.replace(/^\//, '')} is not implemented by this server`),
    };
    // HTTP/2: one HEADERS frame that ends the stream, which gRPC clients read as status and
    // trailers together; the compatibility API would send an empty DATA frame after it.
    if ('stream' in res) res.stream.respond({ ':status': 200, ...headers }, { endStream: true });
    else {
      res.writeHead(200, headers);
      res.end();
    }
  };
}
