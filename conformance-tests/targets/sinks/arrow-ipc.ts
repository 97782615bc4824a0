export { arrowIpcSinkTarget as default } from './files.js';
