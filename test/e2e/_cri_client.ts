/**
 * A minimal Kubernetes CRI client for the e2e tests (no crictl on these
 * machines, snapshotter §14): the `runtime.v1` RuntimeService.Version and
 * ImageService.PullImage / ListImages / RemoveImage calls, over containerd's
 * own gRPC socket, as kubelet makes them. The schema is written here as a
 * protobuf.js JSON namespace with the field numbers of the CRI API
 * (k8s.io/cri-api `pkg/apis/runtime/v1/api.proto`); only the fields used are
 * declared (others are skipped by the decoder).
 */
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";

const str = (id: number) => ({ type: "string", id });

const SCHEMA = {
  nested: {
    runtime: {
      nested: {
        v1: {
          nested: {
            RuntimeService: { methods: { Version: { requestType: "VersionRequest", responseType: "VersionResponse" } } },
            ImageService: {
              methods: {
                PullImage: { requestType: "PullImageRequest", responseType: "PullImageResponse" },
                ListImages: { requestType: "ListImagesRequest", responseType: "ListImagesResponse" },
                RemoveImage: { requestType: "RemoveImageRequest", responseType: "RemoveImageResponse" },
              },
            },
            VersionRequest: { fields: { version: str(1) } },
            VersionResponse: { fields: { version: str(1), runtime_name: str(2), runtime_version: str(3), runtime_api_version: str(4) } },
            ImageSpec: { fields: { image: str(1), annotations: { keyType: "string", type: "string", id: 2 } } },
            PullImageRequest: { fields: { image: { type: "ImageSpec", id: 1 } } },
            PullImageResponse: { fields: { image_ref: str(1) } },
            ImageFilter: { fields: { image: { type: "ImageSpec", id: 1 } } },
            ListImagesRequest: { fields: { filter: { type: "ImageFilter", id: 1 } } },
            Image: { fields: { id: str(1), repo_tags: { rule: "repeated", type: "string", id: 2 }, repo_digests: { rule: "repeated", type: "string", id: 3 }, size: { type: "uint64", id: 4 } } },
            ListImagesResponse: { fields: { images: { rule: "repeated", type: "Image", id: 1 } } },
            RemoveImageRequest: { fields: { image: { type: "ImageSpec", id: 1 } } },
            RemoveImageResponse: { fields: {} },
          },
        },
      },
    },
  },
};

type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: number;
}

export class CriClient {
  readonly #runtime: grpc.Client;
  readonly #images: grpc.Client;

  constructor(socket: string) {
    const pkg = grpc.loadPackageDefinition(fromJSON(SCHEMA as never, { keepCase: true, longs: Number, defaults: true })) as unknown as {
      runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor; ImageService: grpc.ServiceClientConstructor } };
    };
    const creds = grpc.credentials.createInsecure();
    this.#runtime = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, creds);
    this.#images = new pkg.runtime.v1.ImageService(`unix://${socket}`, creds);
  }

  #call<T>(client: grpc.Client, method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) => {
      (client as unknown as Record<string, Unary>)[method]!.call(client, req, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  version(): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.#call(this.#runtime, "Version", { version: "v1" });
  }

  /** kubelet's pull: the image reference as given; the response names the image id. */
  pullImage(image: string): Promise<{ image_ref: string }> {
    return this.#call(this.#images, "PullImage", { image: { image } });
  }

  async listImages(): Promise<CriImage[]> {
    return (await this.#call<{ images: CriImage[] }>(this.#images, "ListImages", {})).images;
  }

  async removeImage(image: string): Promise<void> {
    await this.#call(this.#images, "RemoveImage", { image: { image } });
  }

  close(): void {
    this.#runtime.close();
    this.#images.close();
  }
}
