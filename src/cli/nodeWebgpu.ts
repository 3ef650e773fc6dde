// tfjs's webgpu backend in Node, on Dawn's Node bindings (the `webgpu` npm package, which ships a
// prebuilt dawn.node: nothing is downloaded or built at install). The engine's fused WGSL kernels
// (src/engine/ops/webgpu) then run as they do in the browser, on whatever Vulkan driver the
// machine has: an NVIDIA or AMD GPU on a server, or Mesa's lavapipe (a CPU) for correctness checks.
//
// tfjs-backend-webgpu reads `navigator.gpu` and the WebGPU constants (GPUBufferUsage, GPUMapMode …)
// as globals: Node has neither, so Dawn's are installed before the backend's module is imported,
// and the backend is registered here with the same device request as the package's own (its own
// registration runs at import time only when navigator.gpu already exists).
//
// Reading a webgpu tensor synchronously (dataSync) needs OffscreenCanvas, which Node lacks: the
// engine reads with data() on every path the CLI takes.
import { existsSync, readdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';

/** What the CLI prints of the adapter, and whether it is a CPU pretending to be a GPU. */
export interface NodeAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software (fallback) adapter such as lavapipe: fine for correctness, not for speed. */
  fallback: boolean;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let started: Promise<NodeAdapter> | null = null;
let ourFactory: (() => Promise<tf.KernelBackend>) | null = null;

/**
 * Register the 'webgpu' tfjs backend on Dawn, once. Resolves with the adapter; rejects with a
 * message naming what is missing (the package, the Vulkan loader, a Vulkan driver) and the fix.
 * Nothing is registered when it rejects, so the other backends are unaffected.
 */
export function registerNodeWebGPU(): Promise<NodeAdapter> {
  started ??= start().catch((e: unknown) => {
    started = null;
    throw e;
  });
  return started;
}

async function start(): Promise<NodeAdapter> {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    throw new Error(`WebGPU is not available in Node here: the 'webgpu' package (Dawn) did not load (${firstLine(e)}). Run npm install in the workbench's folder; Dawn's prebuilt binary covers Linux, macOS and Windows on x64 and arm64.`);
  }
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`WebGPU found no adapter: ${missingVulkan()}`);
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const found: NodeAdapter = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    fallback: Boolean(info.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  // Node 20 has no navigator; 21+ has one without gpu.
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  if (!g.navigator!.gpu) Object.defineProperty(g.navigator!, 'gpu', { value: gpu, configurable: true });
  // Importing the package now registers its own 'webgpu' factory (navigator.gpu exists): replaced
  // by ours, which asks for the same limits as the package's (so that Node meets the browser's
  // limits) but reuses the adapter found above and does not become tfjs's default backend.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.engine().registryFactory.webgpu?.factory !== ourFactory) {
    if (tf.engine().registryFactory.webgpu) tf.removeBackend('webgpu');
    // The adapter found above serves the first device (each request prints Dawn's warnings about
    // lavapipe's limits again); an adapter gives one device, so a restarted backend asks anew.
    let unused: GPUAdapter | null = adapter;
    ourFactory = async () => {
      const a = unused ?? (await gpu.requestAdapter({ powerPreference: 'high-performance' }));
      unused = null;
      if (!a) throw new Error(`WebGPU found no adapter: ${missingVulkan()}`);
      const requiredFeatures = (['timestamp-query'] as GPUFeatureName[]).filter((f) => a.features.has(f));
      const l = a.limits;
      const device = await a.requestDevice({
        requiredFeatures,
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      return new WebGPUBackend(device, a.info);
    };
    tf.registerBackend('webgpu', ourFactory, 0);
  }
  return found;
}

/** Vendor / architecture / description. */
export function adapterName(a: NodeAdapter): string {
  return [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ') || 'unknown adapter';
}

/**
 * Vendor / architecture / description, and whether it is a GPU: "nvidia / ampere / NVIDIA GeForce
 * RTX 3090 (a hardware adapter)" or "mesa / software / llvmpipe … (a software adapter on the CPU: …)".
 */
export function adapterLabel(a: NodeAdapter): string {
  return `${adapterName(a)} (${a.fallback ? 'a software adapter on the CPU: right for correctness checks, not for speed' : 'a hardware adapter'})`;
}

const VULKAN_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const VULKAN_LOADERS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];

/** What a Linux machine lacks for Dawn to find an adapter, and the fix. */
export function missingVulkan(): string {
  if (process.platform !== 'linux') return 'no GPU driver Dawn can use (Metal on macOS, D3D12 or Vulkan on Windows); update the GPU driver.';
  const fix = 'On a GPU server install the NVIDIA driver with its Vulkan ICD (in a container, NVIDIA_DRIVER_CAPABILITIES must include graphics, e.g. all); without a GPU, Mesa\'s software Vulkan (Debian: apt-get install mesa-vulkan-drivers, version 23 or later — Debian 12 has it in bookworm-backports) runs the checks, slowly.';
  const only = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES'].filter((v) => process.env[v]);
  if (only.length) return `${only.map((v) => `${v}=${process.env[v]}`).join(', ')} is set, so the Vulkan loader tries only the driver files named there: unset it, or name the GPU's driver file (e.g. /usr/share/vulkan/icd.d/nvidia_icd.json). ${fix}`;
  if (!VULKAN_LOADERS.some((f) => existsSync(f))) return `the Vulkan loader (libvulkan.so.1) is not installed (Debian/Ubuntu: apt-get install libvulkan1). ${fix}`;
  const icds = VULKAN_ICD_DIRS.flatMap((d) => { try { return readdirSync(d).filter((f) => f.endsWith('.json')); } catch { return []; } });
  if (!icds.length) return `no Vulkan driver is installed (no ICD file in ${VULKAN_ICD_DIRS.join(', ')}). ${fix}`;
  return `the Vulkan driver${icds.length ? `s installed (${icds.join(', ')})` : ''} offer no device Dawn accepts (an old Mesa such as Debian 12's 22.3 lacks features Dawn requires; \`vulkaninfo --summary\` lists the devices). ${fix}`;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
