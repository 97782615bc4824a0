export { jsonlSinkTarget as default } from './files.js';
