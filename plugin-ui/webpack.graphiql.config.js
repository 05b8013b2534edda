// @ts-check
/* GraphiQL from npm (dist-graphiql/): graphiql.html plus hashed assets under graphiql-assets/,
   all URLs relative. */
const path = require('path');
const HtmlWebpackPlugin = require('html-webpack-plugin');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const webpack = require('webpack');
const { isProd, tsRule, mjsRule, assetRule, minimizer } = require('./webpack.common');

/** @type {import('webpack').Configuration} */
module.exports = {
  mode: isProd ? 'production' : 'development',
  context: __dirname,
  entry: { graphiql: './src/graphiql/index.tsx' },
  output: {
    path: path.resolve(__dirname, 'dist-graphiql'),
    publicPath: '',
    filename: 'graphiql-assets/[name].[contenthash:8].js',
    chunkFilename: 'graphiql-assets/[name].[contenthash:8].js',
    clean: true,
  },
  resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
  module: {
    rules: [
      tsRule,
      { test: /\.css$/, use: [{ loader: MiniCssExtractPlugin.loader, options: { publicPath: '../' } }, 'css-loader'] },
      assetRule('graphiql-assets'),
      mjsRule,
    ],
  },
  plugins: [
    // One script, one stylesheet: nothing loaded later from a path the server must know.
    new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 }),
    new MiniCssExtractPlugin({ filename: 'graphiql-assets/[name].[contenthash:8].css' }),
    new HtmlWebpackPlugin({
      template: path.resolve(__dirname, 'src/graphiql/graphiql.html'),
      filename: 'graphiql.html',
      scriptLoading: 'defer',
    }),
  ],
  devtool: isProd ? false : 'source-map',
  optimization: { minimize: isProd, minimizer },
  performance: { hints: false },
};
