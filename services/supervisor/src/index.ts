export { inProcessLauncher, type InProcessOptions } from './in-process-launcher';
export { loadMeshConfig, MeshConfig } from './mesh-config';
export { start } from './start';
export { type Mesh, startMesh } from './supervisor';
