export {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_RANDOM_FIRST_PIECES,
  MAX_PRIORITY,
  PiecePicker,
  type BlockRef,
  type PickerOptions,
  type PickResult,
  type ReceiveResult,
} from './piece-picker.js';
