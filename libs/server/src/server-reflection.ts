import { type DescEnum, type DescFile, type DescMessage, type DescService, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter } from '@connectrpc/connect';
import { reflectionV1alpha, ServerReflection, type ServerReflectionRequest, type ServerReflectionResponseSchema } from '@tokenmesh/proto';

type Response = MessageInitShape<typeof ServerReflectionResponseSchema>;

/** gRPC's NOT_FOUND, as reflection's ErrorResponse carries it. */
const NOT_FOUND = 5;

/** What reflection answers from: the services' names, and every file they need by name and by symbol. */
class ReflectionIndex {
  readonly services: string[];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();

  constructor(services: readonly DescService[]) {
    this.services = [...new Set(services.map((s) => s.typeName))].sort();
    for (const s of services) this.addFile(s.file);
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    const symbol = (name: string) => this.symbols.set(name, file);
    const message = (m: DescMessage) => {
      symbol(m.typeName);
      m.nestedMessages.forEach(message);
      m.nestedEnums.forEach((e: DescEnum) => symbol(e.typeName));
    };
    file.messages.forEach(message);
    file.enums.forEach((e) => symbol(e.typeName));
    for (const s of file.services) {
      symbol(s.typeName);
      for (const m of s.methods) symbol(`${s.typeName}.${m.name}`);
    }
    file.dependencies.forEach((d) => this.addFile(d));
  }

  /** The file and everything it imports, serialized, dependencies first (what grpcurl and buf curl load). */
  private descriptors(file: DescFile): Uint8Array[] {
    const out: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (out.includes(f)) return;
      f.dependencies.forEach(visit);
      out.push(f);
    };
    visit(file);
    return out.map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
  }

  answer(req: ServerReflectionRequest): Response {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string): Response => ({
      ...base,
      messageResponse: { case: 'errorResponse', value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } },
    });
    const files = (file: DescFile | undefined, what: string): Response =>
      file ? { ...base, messageResponse: { case: 'fileDescriptorResponse', value: { fileDescriptorProto: this.descriptors(file) } } } : notFound(what);
    const r = req.messageRequest;
    switch (r.case) {
      case 'listServices':
        return { ...base, messageResponse: { case: 'listServicesResponse', value: { service: this.services.map((name) => ({ name })) } } };
      case 'fileByFilename':
        return files(this.files.get(r.value), `file ${r.value}`);
      case 'fileContainingSymbol':
        return files(this.symbols.get(r.value.replace(/^\./, '')), `symbol ${r.value}`);
      case 'allExtensionNumbersOfType':
        // proto3 APIs: no message of ours declares extension ranges.
        return this.symbols.has(r.value)
          ? { ...base, messageResponse: { case: 'allExtensionNumbersResponse', value: { baseTypeName: r.value, extensionNumber: [] } } }
          : notFound(`type ${r.value}`);
      case 'fileContainingExtension':
        return notFound(`extension ${r.value.extensionNumber} of ${r.value.containingType}`);
      default:
        return { ...base, messageResponse: { case: 'errorResponse', value: { errorCode: 3, errorMessage: 'empty reflection request' } } };
    }
  }
}

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha, what grpcurl, buf curl and Postman ask)
 * for `services` and itself, answered from the descriptors compiled into the generated code.
 */
export function registerReflection(router: ConnectRouter, services: readonly DescService[]): void {
  const index = new ReflectionIndex([...services, ServerReflection, reflectionV1alpha.ServerReflection]);
  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield index.answer(req);
    },
  });
  // Same messages, field for field, under the older package name.
  router.service(reflectionV1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield index.answer(req as unknown as ServerReflectionRequest) as never;
    },
  });
}
