// @ts-check
/* The console-like host the browser tests load the plugin into (dist-test-host/): index.html at
   `/`, assets under static/, as the console serves its own. Not shipped. */
const path = require('path');
const HtmlWebpackPlugin = require('html-webpack-plugin');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const webpack = require('webpack');
const { isProd, tsRule, mjsRule, assetRule, minimizer } = require('./webpack.common');

/** @type {import('webpack').Configuration} */
module.exports = {
  mode: isProd ? 'production' : 'development',
  context: __dirname,
  entry: { host: './test-host/index.tsx' },
  output: {
    path: path.resolve(__dirname, 'dist-test-host'),
    publicPath: '/',
    filename: 'static/[name].[contenthash:8].js',
    chunkFilename: 'static/[name].[contenthash:8].js',
    clean: true,
  },
  resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
  module: {
    rules: [
      tsRule,
      { test: /\.css$/, use: [MiniCssExtractPlugin.loader, 'css-loader'] },
      assetRule('static'),
      mjsRule,
    ],
  },
  plugins: [
    new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 }),
    new MiniCssExtractPlugin({ filename: 'static/[name].[contenthash:8].css' }),
    new HtmlWebpackPlugin({
      template: path.resolve(__dirname, 'test-host/index.html'),
      filename: 'index.html',
      scriptLoading: 'defer',
    }),
  ],
  devtool: false,
  optimization: { minimize: isProd, minimizer },
  performance: { hints: false },
};
