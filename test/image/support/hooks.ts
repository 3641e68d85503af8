import { afterAll, beforeAll, beforeEach } from "vitest";
import type { FakeAdoOptions } from "../../fake-ado/server.ts";
import { HOST_PLATFORM, setupImageEnv, type ImagePlatform, type ImageTestEnv } from "./environment.ts";
import { startFakeKube, type FakeKube } from "./fake-kube.ts";

/**
 * The hooks of a test file that uses the image: the environment set up once (handed to
 * `receive`), the fake's state reset before every test, the fake closed at the end. `platform`:
 * the image's architecture (default this machine's; another one runs under emulation).
 */
export function useImageEnv(receive: (env: ImageTestEnv) => void, fakeOptions: FakeAdoOptions = {}, platform: ImagePlatform = HOST_PLATFORM): void {
  let env: ImageTestEnv | undefined;
  beforeAll(async () => {
    env = await setupImageEnv(fakeOptions, platform);
    receive(env);
  });
  beforeEach(() => env?.fake.reset());
  afterAll(async () => {
    await env?.fake.close();
  });
}

/** The fake Kubernetes API of a test file: started once, reset before every test, closed at the end. */
export function useFakeKube(receive: (kube: FakeKube) => void): void {
  let kube: FakeKube | undefined;
  beforeAll(async () => {
    kube = await startFakeKube();
    receive(kube);
  });
  beforeEach(() => kube?.reset());
  afterAll(async () => {
    await kube?.close();
  });
}
